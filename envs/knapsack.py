"""0/1 knapsack instances, one per step: a policy has to learn a solver; the reward is simple."""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from standin.envs._core import Core, CoreEnv, CoreVectorEnv, check_bool, check_choice, check_float, check_int
from standin.envs.reference import Reference
from standin.search import Objective
from standin.search.jit import njit, randint

MAX_N = 4096
MAX_WEIGHT_RANGE = 10**9  # keeps every sum of weights and values exact in float64 and randint's range < 2^32
INSTANCES = ("uncorrelated", "weakly_correlated", "strongly_correlated", "subset_sum")
UNCORRELATED, WEAK, STRONG, SUBSET_SUM = range(4)
EXACT_CELLS = 10**8
"""The dynamic programme is used while ``n × (its widest capacity)`` stays within this many cells."""
HARD = -1.0
"""The penalty that kernels read as ``infeasible="zero"``: an overflowing packing earns 0."""


# ---------------------------------------------------------------------------- rewards


@njit
def _payoff(load, gain, capacity, penalty):
    """The reward of a packing of total weight ``load`` and total value ``gain``."""
    if load <= capacity:
        return float(gain)
    if penalty < 0.0:  # HARD
        return 0.0
    return float(gain) - penalty * float(load - capacity)


@njit
def _reward(x, w, v, capacity, penalty):
    """The reward of packing ``x`` (0/1) with weights ``w``, values ``v`` (the step's, and the landscape's)."""
    load = 0
    gain = 0
    for k in range(x.shape[0]):
        if x[k]:
            load += w[k]
            gain += v[k]
    return _payoff(load, gain, capacity, penalty)


# ---------------------------------------------------------------------------- optimum and bound


@njit
def _dp_width(w, capacity, penalty):
    """The largest capacity the dynamic programme must tabulate.

    With a hard capacity, ``capacity``. With a penalty ``p``, an optimal packing either weighs at
    most ``capacity + max(w) − 1`` or is exactly the set ``H`` of items with ``v_i > p·w_i``: adding a
    missing item of ``H`` to an overflowing packing gains ``v_i − p·w_i > 0``, and removing any other
    item whose weight is at most the overflow loses nothing (``v_i ≤ p·w_i``).
    """
    if penalty < 0.0:
        return capacity
    return capacity + np.max(w) - 1


@njit
def _dense_set(w, v, capacity, penalty):
    """Under a penalty, the reward of the set ``H`` of items with ``v_i > p·w_i`` (see :func:`_dp_width`)."""
    load = 0
    gain = 0
    for k in range(w.shape[0]):
        if v[k] > penalty * w[k]:
            load += w[k]
            gain += v[k]
    return _payoff(load, gain, capacity, penalty)


@njit
def _dp_optimum(w, v, capacity, penalty):
    """The exact best reward over all ``2^n`` packings.

    ``best[c]`` is the largest value of a packing of weight at most ``c`` (the classic programme over
    capacities: O(n·width) time, O(width) memory). The optimum is ``best[C]``, or under a penalty the
    best of ``best[c] − p·(c − C)`` for ``C ≤ c ≤ width`` and the reward of ``H`` (:func:`_dp_width`).

    Two buffers, the previous item's row and the next, let the inner loop vectorise (4–5× the
    in-place loop). After item ``k`` only capacities in a window matter: none above the weight of
    items ``0..k`` (``best`` is flat there) and none below ``C`` minus the weight of the items still
    to come (no later item can reach ``C`` or beyond from there).
    """
    n = w.shape[0]
    remaining = 0
    for k in range(n):
        remaining += w[k]
    if remaining <= capacity:  # everything fits
        return float(np.sum(v))
    width = _dp_width(w, capacity, penalty)
    old = np.zeros(width + 1, dtype=np.int64)
    new = np.zeros(width + 1, dtype=np.int64)
    prefix = 0
    hi_before = 0
    for k in range(n):
        wk, vk = w[k], v[k]
        remaining -= wk
        prefix += wk
        lo = max(0, capacity - remaining)
        hi = min(width, prefix)
        for c in range(hi_before + 1, hi + 1):  # above the last window best was flat
            old[c] = old[hi_before]
        for c in range(lo, min(wk, hi + 1)):
            new[c] = old[c]
        start = max(lo, wk)
        if start <= hi:
            stay = old[start : hi + 1]
            grow = old[start - wk : hi + 1 - wk]
            out = new[start : hi + 1]
            for t in range(out.shape[0]):  # the slice's own length: a separate count stops vectorising
                a = stay[t]
                b = grow[t] + vk
                out[t] = a if a > b else b
        old, new = new, old
        hi_before = hi
    for c in range(hi_before + 1, width + 1):
        old[c] = old[hi_before]
    opt = float(old[capacity])
    if penalty >= 0.0:
        for c in range(capacity + 1, width + 1):
            opt = max(opt, _payoff(c, old[c], capacity, penalty))
        opt = max(opt, _dense_set(w, v, capacity, penalty))
    return opt


@njit
def _dp_packing(w, v, capacity, penalty):
    """A packing that attains :func:`_dp_optimum`, from the same programme run in place with a
    bit-packed table ``take`` (uint64 words, ``n × (width + 1)`` bits): bit ``c`` of row ``k`` says
    that item ``k`` improved ``best[c]``. Reading the rows back from the best capacity gives the
    packing; ``H`` wins only when it is strictly better."""
    n = w.shape[0]
    width = _dp_width(w, capacity, penalty)
    take = np.zeros((n, (width + 64) // 64), dtype=np.uint64)
    best = np.zeros(width + 1, dtype=np.int64)
    for k in range(n):
        wk, vk = w[k], v[k]
        for c in range(width, wk - 1, -1):
            cand = best[c - wk] + vk
            if cand > best[c]:
                best[c] = cand
                take[k, c >> 6] |= np.uint64(1) << np.uint64(c & 63)
    opt = float(best[0])
    at = 0
    for c in range(1, width + 1):
        value = _payoff(c, best[c], capacity, penalty)
        if value > opt:
            opt, at = value, c
    x = np.zeros(n, dtype=np.int8)
    if penalty >= 0.0 and _dense_set(w, v, capacity, penalty) > opt:
        for k in range(n):
            x[k] = v[k] > penalty * w[k]
        return x
    c = at
    for k in range(n - 1, -1, -1):
        if (take[k, c >> 6] >> np.uint64(c & 63)) & np.uint64(1):
            x[k] = 1
            c -= w[k]
    return x


@njit
def _lp_bound(w, v, capacity, penalty):
    """The LP relaxation's optimum (Dantzig): items by value density, best first, fill the capacity,
    the first item that does not fit enters fractionally. With a penalty ``p`` the relaxation also
    takes the rest of every item denser than ``p`` (each unit of its weight gains more than it
    costs); when ``p`` is at least every density, as by default, that adds nothing."""
    n = w.shape[0]
    density = np.empty(n)
    for k in range(n):
        density[k] = v[k] / w[k]
    order = np.argsort(-density, kind="mergesort")
    room = capacity
    total = 0.0
    for k in order:
        if w[k] <= room:
            total += v[k]
            room -= w[k]
            continue
        part = (v[k] * room) / w[k]  # the share room / w_k of the item; exact products, one rounding
        total += part
        if penalty >= 0.0 and density[k] > penalty:  # the rest of the item, overflowing
            total += (v[k] - part) - penalty * float(w[k] - room)
        room = 0
    return total


# ---------------------------------------------------------------------------- instances


@njit
def _draw(state, w, v, kind, R):
    """Fill ``w`` and ``v`` with one instance of Pisinger's class ``kind``; returns the sum of ``w``."""
    d = max(1, R // 10)
    total = 0
    for k in range(w.shape[0]):
        wk = 1 + randint(state, R)
        if kind == UNCORRELATED:
            vk = 1 + randint(state, R)
        elif kind == WEAK:
            vk = max(1, wk - d + randint(state, 2 * d + 1))
        elif kind == STRONG:
            vk = wk + d
        else:
            vk = wk
        w[k] = wk
        v[k] = vk
        total += wk
    return total


@njit
def _new_instances(rng, idx, weights, values, capacity, penalty, optimal, kind, R, ratio, fixed_penalty,
                   penalized, exact, references):
    """A fresh instance in each environment of ``idx``, with its optimum (or bound) if ``references``."""
    for i in idx:
        w, v = weights[i], values[i]
        total = _draw(rng[i], w, v, kind, R)
        capacity[i] = max(1, int(math.floor(ratio * total)))
        if not penalized:
            penalty[i] = HARD
        elif fixed_penalty >= 0.0:
            penalty[i] = fixed_penalty
        else:
            densest = 0.0
            for k in range(w.shape[0]):
                densest = max(densest, v[k] / w[k])
            penalty[i] = densest
        if references:
            if exact:
                optimal[i] = _dp_optimum(w, v, capacity[i], penalty[i])
            else:
                optimal[i] = _lp_bound(w, v, capacity[i], penalty[i])


@njit
def _step(actions, idx, rng, weights, values, capacity, penalty, optimal, steps, horizon, kind, R, ratio,
          fixed_penalty, penalized, exact, references):
    """Reward each action; a fresh instance for every environment whose episode goes on (an ended
    one keeps showing its last instance until it is reset)."""
    m = idx.shape[0]
    reward = np.empty(m)
    terminated = np.zeros(m, dtype=np.bool_)
    one = np.zeros(1, dtype=np.int64)
    for j in range(m):
        i = idx[j]
        reward[j] = _reward(actions[j], weights[i], values[i], capacity[i], penalty[i])
        steps[i] += 1
        if steps[i] >= horizon:
            terminated[j] = True
        else:
            one[0] = i
            _new_instances(rng, one, weights, values, capacity, penalty, optimal, kind, R, ratio, fixed_penalty,
                           penalized, exact, references)
    return reward, terminated


@njit
def _observe(idx, weights, values, capacity):
    """One row per item: ``(w_k / C, v_k / max_j v_j)``, shape ``(len(idx), n, 2)``."""
    n = weights.shape[1]
    out = np.empty((idx.shape[0], n, 2), dtype=np.float32)
    for j in range(idx.shape[0]):
        i = idx[j]
        c = float(capacity[i])
        top = float(np.max(values[i]))
        for k in range(n):
            out[j, k, 0] = weights[i, k] / c
            out[j, k, 1] = values[i, k] / top
    return out


# ---------------------------------------------------------------------------- the landscape as a search.Objective
#
# params = (weights float64 (n,), values float64 (n,), capacity, penalty), penalty = HARD (−1) for
# infeasible="zero"; aux = [packed weight, packed value], so every move's delta costs O(1).


@njit
def _knap_value(x, params):
    w, v, capacity, penalty = params
    return _reward(x, w, v, capacity, penalty)


@njit
def _knap_init(x, aux, params):
    w, v = params[0], params[1]
    aux[0] = 0.0
    aux[1] = 0.0
    for k in range(x.shape[0]):
        if x[k]:
            aux[0] += w[k]
            aux[1] += v[k]


@njit
def _knap_change(x, w, v, i, j):
    """How the packed weight and value change when bit ``i`` (and ``j`` if ``j ≥ 0``) flips."""
    si = 1.0 - 2.0 * x[i]
    dw = si * w[i]
    dv = si * v[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        dw += sj * w[j]
        dv += sj * v[j]
    return dw, dv


@njit
def _knap_delta(x, aux, params, i, j):
    w, v, capacity, penalty = params
    dw, dv = _knap_change(x, w, v, i, j)
    return _payoff(aux[0] + dw, aux[1] + dv, capacity, penalty) - _payoff(aux[0], aux[1], capacity, penalty)


@njit
def _knap_update(x, aux, params, i, j):
    dw, dv = _knap_change(x, params[0], params[1], i, j)
    aux[0] += dw
    aux[1] += dv


# ---------------------------------------------------------------------------- plain-Python entry points


def _arrays(weights, values, capacity, penalty):
    w = np.ascontiguousarray(weights, dtype=np.int64)
    v = np.ascontiguousarray(values, dtype=np.int64)
    if w.ndim != 1 or w.shape != v.shape or w.size == 0 or (w < 1).any() or (v < 1).any() or int(capacity) < 1:
        raise ValueError("knapsack: weights and values must be equal-length positive integer vectors, capacity >= 1")
    return w, v, int(capacity), HARD if penalty is None else float(penalty)


def optimum(weights, values, capacity, penalty=None) -> float:
    """The exact best reward of any packing (dynamic programme); ``penalty=None``: a hard capacity."""
    w, v, c, p = _arrays(weights, values, capacity, penalty)
    return float(_dp_optimum(w, v, c, p))


def optimal_packing(weights, values, capacity, penalty=None) -> np.ndarray:
    """A packing (int8 0/1) that attains :func:`optimum`."""
    return _dp_packing(*_arrays(weights, values, capacity, penalty))


def lp_bound(weights, values, capacity, penalty=None) -> float:
    """The LP relaxation upper bound (Dantzig) on :func:`optimum`, valid when ``penalty`` is None or
    any number ≥ 0."""
    return float(_lp_bound(*_arrays(weights, values, capacity, penalty)))


# ---------------------------------------------------------------------------- core and envs


def _check_ratio(env: str, value) -> float:
    """``value`` as a float in the open interval (0, 1), or a ValueError naming ``capacity_ratio``."""
    try:
        ratio = check_float(env, "capacity_ratio", value, 0.0, 1.0, lo_open=True)
    except ValueError:
        ratio = 1.0
    if ratio >= 1.0:
        raise ValueError(f"{env}: capacity_ratio must be a number in (0, 1), got {value!r}")
    return ratio


class KnapsackCore(Core):
    """``num_envs`` Knapsack-v0 environments, each with its own instance."""

    def __init__(self, num_envs, n, kind, R, ratio, penalized, fixed_penalty, horizon, exact, references=True):
        super().__init__(num_envs, references)
        self.kind, self.R, self.ratio, self.horizon, self.exact = kind, R, ratio, horizon, exact
        self.penalized, self.fixed_penalty = penalized, fixed_penalty
        self.weights = np.ones((num_envs, n), dtype=np.int64)
        self.values = np.ones((num_envs, n), dtype=np.int64)
        self.capacity = np.ones(num_envs, dtype=np.int64)
        self.penalty = np.full(num_envs, HARD)
        self.optimal = np.zeros(num_envs)
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def _generation(self):
        return (self.kind, self.R, self.ratio, self.fixed_penalty, self.penalized, self.exact, self.references)

    def reset(self, idx):
        _new_instances(self.rng, idx, self.weights, self.values, self.capacity, self.penalty, self.optimal,
                       *self._generation())
        self.steps[idx] = 0

    def step(self, actions, idx):
        reward, terminated = _step(actions, idx, self.rng, self.weights, self.values, self.capacity, self.penalty,
                                   self.optimal, self.steps, self.horizon, *self._generation())
        return reward, terminated, np.zeros(len(idx), dtype=bool)

    def observe(self, idx):
        return _observe(idx, self.weights, self.values, self.capacity)

    def info(self, idx):
        if not self.references:
            return {}
        return {"optimal_value": self.optimal[idx], "random_value": np.zeros(len(idx))}


class KnapsackEnv(CoreEnv):
    """Pack a fresh 0/1 knapsack instance each step: the policy has to be a solver.

    ## Description
    Each step shows ``n`` items with integer weights ``w_i`` and values ``v_i`` and a capacity
    ``C``; the action packs a subset. Instances follow Pisinger's standard classes, with
    ``w_i ~ U{1..R}`` and ``d = max(1, ⌊R/10⌋)``:

    - ``uncorrelated``: ``v_i ~ U{1..R}``;
    - ``weakly_correlated``: ``v_i ~ U{w_i − d .. w_i + d}``, raised to at least 1;
    - ``strongly_correlated``: ``v_i = w_i + d``;
    - ``subset_sum``: ``v_i = w_i``.

    The capacity is ``C = max(1, ⌊capacity_ratio · Σ w_i⌋)``.

    ## Action Space
    ``MultiBinary(n)``: ``a_i = 1`` packs item ``i``.

    ## Observation Space
    ``Box(0, high, (n, 2), float32)``, item-structured (one row per item, see
    ``docs/adding-an-environment.md``): row ``i`` is ``(w_i / C, v_i / max_j v_j)``, the item's weight
    divided by the capacity (unbounded above) and its value divided by the instance's largest value
    (in ``(0, 1]``). An item with ``w_i / C > 1`` never fits. No global features
    (``item_global_features = 0``): the capacity shows only through the scaled weights.

    ## Rewards
    ``Σ a_i v_i`` when the packing fits (``Σ a_i w_i ≤ C``). When it does not: 0 under
    ``infeasible="zero"``; ``Σ a_i v_i − p · (Σ a_i w_i − C)`` under ``infeasible="penalty"``
    (negative when the overflow is large). The default ``p`` is the instance's largest density
    ``max_i v_i / w_i``, so no unit of overflow earns more than it costs and an overflow of at least
    the heaviest item's weight never pays; a smaller overflow can (it is the LP relaxation's
    fractional item): the penalised optimum lies between the hard-capacity optimum and the LP bound.

    ## Starting State
    An instance drawn from the environment's random stream (seeded through ``np_random``).

    ## Episode End
    Terminates after ``horizon`` steps; each step shows a fresh instance, so steps are independent
    decisions. An ended episode's final observation is its last instance.

    ## Arguments
    | name | default | allowed | meaning |
    |---|---|---|---|
    | n | 50 | 2..4096 | items; ``|A| = 2^n`` |
    | instance | "uncorrelated" | see Description | Pisinger's instance class |
    | weight_range | 100 | 1..10^9 | ``R``: weights are ``U{1..R}`` |
    | capacity_ratio | 0.5 | (0, 1) | capacity as a share of the total weight |
    | infeasible | "zero" | "zero", "penalty" | reward of a packing that does not fit |
    | penalty | None | ≥ 0 or None | ``p`` per unit of overflow (None: ``max_i v_i/w_i``); unused under "zero" |
    | horizon | 1 | ≥ 1 | steps (instances) per episode |
    | references | True | bool | ``optimal_value``, ``random_value`` in ``info``; False skips their cost |

    ## Optimum and Reference
    Exact while ``n × W ≤ 10^8``, where ``W = max(1, ⌊capacity_ratio · n · R⌋)`` is the largest
    capacity these arguments can give (plus ``R − 1`` under "penalty", see below): a numba dynamic
    programme over capacities (O(n·W) time, O(W) memory) gives ``info["optimal_value"]``, the best
    reward of any packing, and ``optimal_action()`` reads an optimal packing back from a bit-packed
    table of ``n × (W + 1)`` bits. Under "penalty" the programme runs to ``C + max_i w_i − 1`` and
    also weighs the set of items denser than ``p``: an optimal packing is one or the other.
    Past that size ``info["optimal_value"]`` is the LP relaxation's optimum (Dantzig's bound: items
    by density, the first that does not fit packed fractionally; under "penalty" the rest of every
    item denser than ``p`` too), an upper bound, and ``optimal_action()`` raises. Which one is fixed
    by the arguments: ``reference.high`` says which. ``info["random_value"] = 0.0``, the empty
    knapsack. Both are per decision. ``landscape()`` (``landscape_kind = "oracle"``) is the exact
    step reward of the instance on show as a ``search.Objective`` with O(1) deltas (its incremental
    state is the packed weight and value). The DP costs O(n·C) on every new instance; vector envs
    made with ``references=False`` skip it.

    ## Vector Env
    ``gymnasium.make_vec("standin/Knapsack-v0", num_envs)`` steps all copies in one numba kernel.

    ## Version History
    * v0: initial version.
    * v0: observations are item-structured (one row per item, shape ``(n, 2)`` instead of the flat
      ``(2n,)``: the same numbers), see docs/adding-an-environment.md.
    """

    name = "Knapsack-v0"
    size_kwargs = ("n",)
    landscape_kind = "oracle"
    item_global_features = 0  # agents.layout: no column is shared by all items

    def __init__(self, n=50, instance="uncorrelated", weight_range=100, capacity_ratio=0.5, infeasible="zero",
                 penalty=None, horizon=1, references=True, render_mode=None):
        self.n = check_int(self.name, "n", n, 2, MAX_N)
        self.instance = check_choice(self.name, "instance", instance, INSTANCES)
        self.weight_range = check_int(self.name, "weight_range", weight_range, 1, MAX_WEIGHT_RANGE)
        self.capacity_ratio = _check_ratio(self.name, capacity_ratio)
        self.infeasible = check_choice(self.name, "infeasible", infeasible, ("zero", "penalty"))
        self.penalty = None if penalty is None else check_float(self.name, "penalty", penalty, 0.0)
        self.horizon = check_int(self.name, "horizon", horizon, 1)
        self.render_mode = render_mode

        R = self.weight_range
        self.max_capacity = max(1, math.floor(self.capacity_ratio * self.n * R))
        width = self.max_capacity + (R - 1 if self.infeasible == "penalty" else 0)
        self.exact = self.n * width <= EXACT_CELLS

        high = np.tile(np.array([np.inf, 1.0], np.float32), (self.n, 1))  # row i: (w_i / C, v_i / max v)
        self.action_space = spaces.MultiBinary(self.n)
        self.observation_space = spaces.Box(np.zeros((self.n, 2), np.float32), high, (self.n, 2), np.float32)
        self.references = check_bool(self.name, "references", references)
        self.core = self.make_core(1, self.references)

    @property
    def reference(self) -> Reference:
        if self.exact:
            return Reference(high="exact optimum (dynamic programme)", high_is_optimum=True,
                             low="empty knapsack (0)", per="decision")
        return Reference(high="LP relaxation upper bound (Dantzig)", high_is_optimum=False,
                         low="empty knapsack (0)", per="decision", high_is_bound=True)

    def make_core(self, num_envs: int, references: bool = True) -> KnapsackCore:
        penalized = self.infeasible == "penalty"
        fixed = -1.0 if self.penalty is None else self.penalty
        return KnapsackCore(num_envs, self.n, INSTANCES.index(self.instance), self.weight_range, self.capacity_ratio,
                            penalized, fixed, self.horizon, self.exact, references)

    def _instance(self):
        core = self.core
        return core.weights[0], core.values[0], int(core.capacity[0]), float(core.penalty[0])

    def reward(self, action) -> float:
        """The reward of ``action`` on the instance on show (no state change)."""
        a = self.check_action(action)
        return float(_reward(a, *self._instance()))

    # ------------------------------------------------------------ capabilities

    def feasible(self, action) -> bool:
        """Whether ``action`` fits the instance on show (``Σ a_i w_i ≤ C``). Policies decode through
        it (``agents.common.repair``): a packing that overflows is never their decision."""
        w, _, capacity, _ = self._instance()
        return bool(np.dot(np.asarray(action, dtype=np.int64), w) <= capacity)

    def optimal_action(self) -> np.ndarray:
        """An optimal packing of the instance on show (only when the optimum is exact)."""
        if not self.exact:
            raise RuntimeError(
                f"{self.name}: optimal_action() needs the exact dynamic programme, which these arguments rule out "
                f"(n × max capacity > {EXACT_CELLS:.0e} cells); info['optimal_value'] is an LP upper bound"
            )
        return _dp_packing(*self._instance())

    def landscape(self) -> Objective:
        """The exact reward of the instance on show, as a ``search.Objective`` on the binary action with
        O(1) deltas: ``aux = [packed weight, packed value]``, ``params = (w, v, C, p)`` with ``p = −1`` for
        ``infeasible="zero"``."""
        w, v, c, p = self._instance()
        params = (w.astype(np.float64), v.astype(np.float64), float(c), p)
        return Objective(_knap_value, self.n, params, delta=_knap_delta, update=_knap_update, init=_knap_init,
                         aux_size=2)


class KnapsackVectorEnv(CoreVectorEnv):
    """Knapsack-v0 copies stepped together (the ``vector_entry_point``)."""

    env_class = KnapsackEnv
