"""Slate recommendation: show k of N fresh items to a user whose interests drift and whose time runs out."""

from __future__ import annotations

from collections import namedtuple
from copy import deepcopy

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from standin.envs._core import Core, CoreEnv, CoreVectorEnv, check_bool, check_float, check_int
from standin.envs.reference import Reference
from standin.search import Objective
from standin.search.jit import jitable, njit, normal, randint, splitmix, uniform

MAX_N = 4096
REFILL = 1.5
"""Budget refill per unit of quality: a click on item ``i`` adds ``REFILL * q_i`` to the time budget."""
MIN_TEMPERATURE = 0.01
"""Below this the weights ``exp(·/temperature)`` leave float range (and the choice is an argmax anyway)."""
MAX_DINKELBACH_ITERATIONS = 200
"""A safety cap; Dinkelbach's method converges superlinearly (a handful of iterations in practice)."""

ORACLE, RANDOM = 0, 1  # the reference policies of a rollout

#: Fixed arguments of a core, read by the kernels.
Params = namedtuple("Params", ["N", "k", "T", "horizon", "temperature", "drift", "budget", "obs_noise", "refill"])


# ================================================================ the k-of-N action space


class KOfN(spaces.MultiBinary):
    """Subsets of exactly ``k`` of ``n`` items, as 0/1 vectors: a ``MultiBinary(n)`` with ``k`` ones.

    ``sample()`` is uniform over the ``C(n, k)`` subsets and uses the space's own ``np_random``
    (seed it with ``space.seed``). ``sample(mask=...)`` takes an int8 array of length ``n`` with
    ``1`` where an item may be chosen and ``0`` where it may not (search's mask convention, not
    ``MultiBinary``'s 0/1/2), and is uniform over the allowed subsets; a mask allowing fewer than
    ``k`` items is a ValueError. ``contains(x)`` checks the shape, the 0/1 values and that there are
    exactly ``k`` ones. Gymnasium's flattening and pickling treat it as ``MultiBinary(n)`` plus the
    attribute ``k``; batching (``batch_space``, a vector env's ``action_space``) gives a
    :class:`BatchKOfN`, whose rows are k-of-N; ``search`` recognises it by the attribute ``k``.
    """

    def __init__(self, n: int, k: int, seed=None):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"KOfN: n must be an integer >= 1, got {n!r}")
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise ValueError(f"KOfN: k must be an integer in 0..{n}, got {k!r}")
        super().__init__(int(n), seed)
        self.k = int(k)

    def sample(self, mask=None, probability=None) -> np.ndarray:
        """A uniformly random subset of ``k`` items (of the allowed ones, with ``mask``)."""
        if probability is not None:
            raise ValueError("KOfN.sample: probability is not supported (samples are uniform over subsets)")
        return _sample_subsets(self, self.np_random, mask, 1)[0]

    def contains(self, x) -> bool:
        if not super().contains(x):
            return False
        return int(np.sum(np.asarray(x))) == self.k

    def __repr__(self) -> str:
        return f"KOfN({self.n}, {self.k})"

    def __eq__(self, other) -> bool:
        return isinstance(other, KOfN) and self.n == other.n and self.k == other.k

    __hash__ = None  # like MultiBinary: equal spaces need not hash equal, so none hash


def _sample_subsets(space: KOfN, rng: np.random.Generator, mask, num: int) -> np.ndarray:
    """``num`` uniform subsets of ``space.k`` items (of those ``mask`` allows), as 0/1 rows."""
    if mask is None:
        items = np.arange(space.n)
    else:
        mask = np.asarray(mask)
        if mask.shape != (space.n,) or not np.isin(mask, (0, 1)).all():
            raise ValueError(f"{space}: mask must be a 0/1 array of shape ({space.n},), got shape {mask.shape}")
        items = np.flatnonzero(mask == 1)
        if items.size < space.k:
            raise ValueError(f"{space}: the mask allows {items.size} items, fewer than k = {space.k}")
    out = np.zeros((num, space.n), dtype=space.dtype)
    for row in out:
        row[rng.choice(items, size=space.k, replace=False)] = 1
    return out


class BatchKOfN(spaces.Box):
    """``num`` k-of-N actions stacked, shape ``(num, n)``: a vector env's action space over
    :class:`KOfN` (a ``Box`` of 0/1, as Gymnasium batches ``MultiBinary``, whose ``sample()`` and
    ``contains()`` respect the ``k`` ones of every row)."""

    def __init__(self, single: KOfN, num: int, seed=None):
        super().__init__(0, 1, (num, single.n), single.dtype, seed)
        self.single = KOfN(single.n, single.k)
        self.k = single.k

    def sample(self, mask=None, probability=None) -> np.ndarray:
        """``num`` independent uniform k-of-N rows (a ``mask``, if given, is one row's mask for all)."""
        if probability is not None:
            raise ValueError("BatchKOfN.sample: probability is not supported")
        return _sample_subsets(self.single, self.np_random, mask, self.shape[0])

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.isin(x, (0, 1)).all()) and bool((x.sum(axis=1) == self.k).all())

    def __repr__(self) -> str:
        return f"BatchKOfN({self.shape[1]}, {self.k}, num={self.shape[0]})"

    def __eq__(self, other) -> bool:
        return isinstance(other, BatchKOfN) and self.shape == other.shape and self.k == other.k


@batch_space.register(KOfN)
def _batch_k_of_n(space: KOfN, n: int = 1) -> BatchKOfN:
    return BatchKOfN(space, n, seed=deepcopy(space.np_random))


# ================================================================ kernels
#
# Draw order (the environment's random stream ``rng[i]``, one xoshiro256** state per environment):
#   reset: T uniforms for the interest, then the candidates, then the observation noise;
#   step:  one uniform for the click, then the next step's candidates, then the observation noise;
#   candidates: per item j = 0..N-1: topic = randint(T), q = 2·uniform − 1, p = uniform;
#   noise: T normals (drawn even when obs_noise = 0, so the stream does not depend on it).
# The reference rollouts replay this order on copies of the state and the stream.


@jitable
def _new_items(state, topic, quality, appeal, T):
    """Fresh candidates: a topic, a quality ``q ~ U(-1, 1)`` and an appeal ``p ~ U(0, 1)`` each."""
    for j in range(topic.shape[0]):
        topic[j] = randint(state, T)
        quality[j] = 2.0 * uniform(state) - 1.0
        appeal[j] = uniform(state)


@jitable
def _new_noise(state, u, u_obs, obs_noise):
    """The observed interest ``u + obs_noise · N(0, 1)`` (fresh noise)."""
    for t in range(u.shape[0]):
        u_obs[t] = u[t] + obs_noise * normal(state)


@jitable
def _weights(u, topic, quality, appeal, temperature, w, e):
    """Choice weights relative to the no-click option, ``w_i / w_0 = exp((u[topic_i] + p_i − 1) / τ)``,
    and engagements ``e_i = (2 + p_i + u[topic_i]) / 2``."""
    for j in range(topic.shape[0]):
        ut = u[topic[j]]
        w[j] = np.exp((ut + appeal[j] - 1.0) / temperature)
        e[j] = (2.0 + appeal[j] + ut) / 2.0


@jitable
def _respond(state, slate, w, e, u, topic, quality, budget, P):
    """The user's response to the 0/1 ``slate``: one uniform picks the no-click option or an item
    (multinomial logit, no-click weight 1, items in index order); a click earns ``e_i``, moves the
    interest toward the item's topic and refills the budget by ``refill · q_i``; every step costs 1.
    Returns ``(reward, new budget)``."""
    total = 1.0
    for j in range(slate.shape[0]):
        if slate[j]:
            total += w[j]
    r = uniform(state) * total
    chosen = -1
    if r >= 1.0:
        acc = 1.0
        for j in range(slate.shape[0]):
            if slate[j]:
                chosen = j
                acc += w[j]
                if r < acc:
                    break
    reward = 0.0
    budget -= 1.0
    if chosen >= 0:
        reward = e[chosen]
        t = topic[chosen]
        for s in range(u.shape[0]):
            u[s] *= 1.0 - P.drift
        u[t] += P.drift
        budget += P.refill * quality[chosen]
    return reward, budget


@jitable
def _better(score, a, b):
    """Item ``a`` ranks above item ``b``: a higher score, ties to the lower index."""
    return score[a] > score[b] or (score[a] == score[b] and a < b)


@jitable
def _sift_down(score, heap, size, pos):
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _better(score, heap[child], heap[child + 1]):
            child += 1  # the worse child
        if not _better(score, heap[pos], heap[child]):
            return
        heap[pos], heap[child] = heap[child], heap[pos]
        pos = child


@jitable
def _top_k(score, k, heap):
    """The ``k`` best items by ``score`` (ties to lower indices) into ``heap[:k]``, in O(N log k): a
    heap whose root is the worst item kept."""
    n = score.shape[0]
    for j in range(k):
        heap[j] = j
    for pos in range(k // 2 - 1, -1, -1):
        _sift_down(score, heap, k, pos)
    for j in range(k, n):
        if _better(score, j, heap[0]):
            heap[0] = j
            _sift_down(score, heap, k, 0)


@jitable
def _dinkelbach(w, e, w0, k, score, heap, slate):
    """Maximise ``f(S) = Σ_S w_i e_i / (w0 + Σ_S w_i)`` over ``|S| = k`` (see ``SlateEnv.optimal_action``).

    Writes the best slate as 0/1 into ``slate`` and returns ``f`` of it. ``score`` (N,) and ``heap``
    (k,) are scratch."""
    n = w.shape[0]
    R = 0.0
    best = -1.0
    for _ in range(MAX_DINKELBACH_ITERATIONS):
        for j in range(n):
            score[j] = w[j] * (e[j] - R)
        _top_k(score, k, heap)
        num = 0.0
        den = w0
        for t in range(k):
            num += w[heap[t]] * e[heap[t]]
            den += w[heap[t]]
        value = num / den
        if value > best:
            best = value
            slate[:] = 0
            for t in range(k):
                slate[heap[t]] = 1
        if value <= R + 1e-12 * max(1.0, R):
            break  # max_S Σ_S w (e − R) = w0 R: no slate beats R
        R = value
    return best


@jitable
def _random_slate(state, k, slate):
    """A uniformly random k-subset into the 0/1 ``slate`` (Floyd's algorithm: k draws)."""
    n = slate.shape[0]
    slate[:] = 0
    for j in range(n - k, n):
        t = randint(state, j + 1)
        if slate[t]:
            slate[j] = 1
        else:
            slate[t] = 1


@njit
def policy_stream(state):
    """The random reference policy's own stream, derived from the (copied) environment stream
    without advancing it: splitmix64 of each word mixed with a constant."""
    out = np.empty(4, dtype=np.uint64)
    for t in range(4):
        out[t] = splitmix(state[t] ^ np.uint64(0xD1B54A32D192ED03))
    if out[0] == 0 and out[1] == 0 and out[2] == 0 and out[3] == 0:
        out[0] = np.uint64(1)
    return out


@njit
def random_slate(state, n, k):
    """A uniformly random k-of-n slate (int8) from the xoshiro ``state``, as the random reference draws it."""
    slate = np.zeros(n, dtype=np.int8)
    _random_slate(state, k, slate)
    return slate


@jitable
def _rollout(policy, state, u, topic, quality, appeal, budget, steps, P):
    """The return of one reference policy from the given state to the end of the episode. All
    arguments are the caller's copies (they are consumed); draws follow ``step`` exactly."""
    N, k, T = P.N, P.k, P.T
    w = np.empty(N)
    e = np.empty(N)
    score = np.empty(N)
    heap = np.empty(k, dtype=np.int64)
    slate = np.zeros(N, dtype=np.int8)
    u_obs = np.empty(T)
    stream = policy_stream(state)
    total = 0.0
    while True:
        _weights(u, topic, quality, appeal, P.temperature, w, e)
        if policy == ORACLE:
            _dinkelbach(w, e, 1.0, k, score, heap, slate)
        else:
            _random_slate(stream, k, slate)
        reward, budget = _respond(state, slate, w, e, u, topic, quality, budget, P)
        total += reward
        steps += 1
        if budget <= 0.0 or steps >= P.horizon:
            return total
        _new_items(state, topic, quality, appeal, T)
        _new_noise(state, u, u_obs, P.obs_noise)


@njit
def _reset(rng, idx, S, P, references):
    for i in idx:
        state = rng[i]
        for t in range(P.T):
            S.interest[i, t] = 2.0 * uniform(state) - 1.0
        S.budget[i] = P.budget
        S.steps[i] = 0
        _new_items(state, S.topic[i], S.quality[i], S.appeal[i], P.T)
        _new_noise(state, S.interest[i], S.interest_obs[i], P.obs_noise)
        S.optimal_value[i] = 0.0
        S.random_value[i] = 0.0
        if references:
            for policy in (ORACLE, RANDOM):
                value = _rollout(policy, state.copy(), S.interest[i].copy(), S.topic[i].copy(),
                                 S.quality[i].copy(), S.appeal[i].copy(), S.budget[i], 0, P)
                if policy == ORACLE:
                    S.optimal_value[i] = value
                else:
                    S.random_value[i] = value


@njit
def _step(rng, actions, idx, S, P):
    m = idx.shape[0]
    reward = np.zeros(m)
    terminated = np.zeros(m, dtype=np.bool_)
    truncated = np.zeros(m, dtype=np.bool_)
    w = np.empty(P.N)
    e = np.empty(P.N)
    for j in range(m):
        i = idx[j]
        state = rng[i]
        u = S.interest[i]
        _weights(u, S.topic[i], S.quality[i], S.appeal[i], P.temperature, w, e)
        reward[j], S.budget[i] = _respond(state, actions[j], w, e, u, S.topic[i], S.quality[i], S.budget[i], P)
        S.steps[i] += 1
        terminated[j] = S.budget[i] <= 0.0
        truncated[j] = S.steps[i] >= P.horizon and not terminated[j]
        _new_items(state, S.topic[i], S.quality[i], S.appeal[i], P.T)
        _new_noise(state, u, S.interest_obs[i], P.obs_noise)
        S.optimal_value[i] = 0.0
        S.random_value[i] = 0.0
    return reward, terminated, truncated


@njit
def _observe(idx, S, P):
    """One row per item, shape ``(len(idx), N, 2T + 4)``: the item's one-hot topic, ``q``, ``p``,
    then the global features (observed interest, ``B / budget``, ``t / horizon``) on every row."""
    N, T = P.N, P.T
    own = T + 2  # the item's own columns; the global ones follow
    out = np.zeros((idx.shape[0], N, own + T + 2), dtype=np.float32)
    for j in range(idx.shape[0]):
        i = idx[j]
        budget = np.float32(S.budget[i] / P.budget)
        time = np.float32(S.steps[i] / P.horizon)
        for a in range(N):
            row = out[j, a]
            row[S.topic[i, a]] = 1.0
            row[T] = S.quality[i, a]
            row[T + 1] = S.appeal[i, a]
            for t in range(T):
                row[own + t] = S.interest_obs[i, t]
            row[own + T] = budget
            row[own + T + 1] = time
    return out


@njit
def state_weights(u, topic, quality, appeal, temperature):
    """``(w, e)``: the choice weights relative to the no-click option and the engagements of the
    candidates (as the step kernel computes them)."""
    w = np.empty(topic.shape[0])
    e = np.empty(topic.shape[0])
    _weights(u, topic, quality, appeal, temperature, w, e)
    return w, e


@njit
def dinkelbach(w, e, w0, k):
    """``(f*, slate)``: the exact maximum of ``Σ_S w_i e_i / (w0 + Σ_S w_i)`` over slates of exactly
    ``k`` items, and a maximising slate as int8 0/1 (ties in the ranking to lower indices)."""
    slate = np.zeros(w.shape[0], dtype=np.int8)
    value = _dinkelbach(w, e, w0, k, np.empty(w.shape[0]), np.empty(k, dtype=np.int64), slate)
    return value, slate


# ---------------------------------------------------------------- the landscape as a search.Objective
# params = (w, e, [w0]); aux = (numerator Σ x w e, denominator w0 + Σ x w).


@njit
def slate_value(x, params):
    w, e, w0 = params
    num = 0.0
    den = w0[0]
    for j in range(x.shape[0]):
        if x[j]:
            num += w[j] * e[j]
            den += w[j]
    return num / den


@njit
def slate_init(x, aux, params):
    w, e, w0 = params
    aux[0] = 0.0
    aux[1] = w0[0]
    for j in range(x.shape[0]):
        if x[j]:
            aux[0] += w[j] * e[j]
            aux[1] += w[j]


@njit
def _slate_change(x, params, i, j):
    w, e, _ = params
    si = 1.0 - 2.0 * x[i]
    dn = si * w[i] * e[i]
    dd = si * w[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        dn += sj * w[j] * e[j]
        dd += sj * w[j]
    return dn, dd


@njit
def slate_delta(x, aux, params, i, j):
    dn, dd = _slate_change(x, params, i, j)
    return (aux[0] + dn) / (aux[1] + dd) - aux[0] / aux[1]


@njit
def slate_update(x, aux, params, i, j):
    dn, dd = _slate_change(x, params, i, j)
    aux[0] += dn
    aux[1] += dd


# ================================================================ core and env

State = namedtuple(
    "State",
    ["topic", "quality", "appeal", "interest", "interest_obs", "budget", "steps", "optimal_value", "random_value"],
)


class SlateCore(Core):
    """``num_envs`` Slate-v0 environments: candidates, hidden user state and reference values as arrays."""

    def __init__(self, num_envs, params: Params, references=True):
        super().__init__(num_envs, references)
        self.params = params
        N, T = params.N, params.T
        self.topic = np.zeros((num_envs, N), dtype=np.int64)
        self.quality = np.zeros((num_envs, N))
        self.appeal = np.zeros((num_envs, N))
        self.interest = np.zeros((num_envs, T))  # hidden u
        self.interest_obs = np.zeros((num_envs, T))  # u + noise, as observed
        self.budget = np.full(num_envs, params.budget)  # hidden B
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.optimal_value = np.zeros(num_envs)
        self.random_value = np.zeros(num_envs)

    @property
    def state(self) -> State:
        return State(self.topic, self.quality, self.appeal, self.interest, self.interest_obs, self.budget,
                     self.steps, self.optimal_value, self.random_value)

    def reset(self, idx):
        _reset(self.rng, idx, self.state, self.params, bool(self.references))

    def step(self, actions, idx):
        return _step(self.rng, np.ascontiguousarray(actions, dtype=np.int8), idx, self.state, self.params)

    def observe(self, idx):
        return _observe(idx, self.state, self.params)

    def info(self, idx):
        if not self.references:
            return {}
        return {"optimal_value": self.optimal_value[idx], "random_value": self.random_value[idx]}


class SlateEnv(CoreEnv):
    """Recommend ``k`` of ``N`` fresh items per step to a simulated user with drifting interests.

    ## Description
    Each step shows ``N`` new candidate items. Item ``i`` has a topic (one of ``T``), a quality
    ``q_i ~ U(−1, 1)`` and an appeal ``p_i ~ U(0, 1)``. The agent recommends a slate of exactly ``k``
    items. A hidden user with interests ``u ∈ [−1, 1]^T`` and a time budget ``B`` chooses by a
    multinomial logit with a no-click option: item ``i`` has weight ``w_i = exp((u[topic_i] + p_i)/τ)``,
    no click has ``w_0 = exp(1/τ)``, and the user picks item ``i`` of the slate with probability
    ``w_i / (w_0 + Σ_slate w)``, or nothing. Appeal buys clicks and engagement now; quality buys
    time later.

    On a click on item ``i``: the interest drifts toward its topic,
    ``u ← (1 − drift)·u + drift·onehot(topic_i)``, and the budget gains ``REFILL · q_i``
    (``REFILL = 1.5``). Every step costs 1 unit of budget. So low-quality clicks (clickbait) drain
    the user's time and high-quality ones refill it: a myopic engagement maximiser, which never sees
    quality, ends episodes early, in the spirit of the interest-evolution environments of the
    recommender-systems literature (RecSim). At the defaults (40 episodes, seeds 1000..1039) the
    myopic oracle's episodes last 21 steps on average and earn 35; the same exact rule on
    ``e_i + q_i / 2`` keeps the user 98 of 100 steps and earns 145, about 4× (a normalised 4.1).

    ## Action Space
    ``KOfN(N, k)``: an int8 0/1 vector of length ``N`` with exactly ``k`` ones (a ``MultiBinary(N)``
    with attribute ``k``; see :class:`KOfN`).

    ## Observation Space
    ``Box(float32, (N, 2T + 4))``, item-structured (one row per candidate, see
    ``docs/adding-an-environment.md``): row ``i`` is item ``i``'s one-hot topic (``T`` columns),
    ``q_i`` and ``p_i``, then the ``T + 2`` global features, the same on every row: the interest
    observed with noise ``u + obs_noise · N(0, 1)`` (fresh noise each step, ``T`` columns),
    ``B / budget`` and ``t / horizon``. ``item_global_features = T + 2`` says that the last ``T + 2``
    columns are global.

    ## Rewards
    The engagement of the clicked item, ``e_i = (2 + p_i + u[topic_i]) / 2 ∈ [0.5, 2]`` (with ``u``
    before the drift); 0 without a click.

    ## Starting State
    ``u ~ U(−1, 1)^T``, ``B = budget``, ``t = 0`` and fresh candidates, all from the environment's
    random stream. Draw order (reset: ``T`` uniforms for ``u``, the candidates, ``T`` normals for
    the observation noise; step: one uniform for the click, the next candidates, the noise;
    per candidate: topic, ``q``, ``p``) is part of the spec: the reference rollouts replay it.

    ## Episode End
    Terminated when ``B ≤ 0``; truncated after ``horizon`` steps.

    ## Arguments
    | name | default | allowed | meaning |
    |---|---|---|---|
    | N | 100 | 2..4096 | candidates per step |
    | k | 5 | 1..N−1 | slate size; ``|A| = C(N, k)`` |
    | topics | 10 | ≥ 1 | number of topics ``T`` |
    | horizon | 100 | ≥ 1 | steps before truncation |
    | temperature | 0.5 | ≥ 0.01 | logit temperature ``τ`` (smaller: choices closer to an argmax) |
    | drift | 0.1 | [0, 1] | interest drift per click |
    | budget | 20.0 | > 0 | the user's initial time budget |
    | obs_noise | 0.1 | ≥ 0 | std of the noise on the observed interest |
    | references | True | bool | ``optimal_value``, ``random_value`` in ``info``; False skips their cost |

    ## Optimum and Reference
    ``landscape_kind = "oracle"``: ``landscape()`` is the true expected one-step reward of the
    current (hidden) state, ``f(x) = Σ_i x_i w_i e_i / (w_0 + Σ_i x_i w_i)``, a ``search.Objective``
    with O(1) one- and two-bit deltas; ``optimal_action()`` maximises it exactly (Dinkelbach).
    The reference is per episode (``high_is_optimum=False``): at reset, ``info["optimal_value"]`` is
    the return of the myopic oracle (``optimal_action()`` at every step) and ``info["random_value"]``
    that of uniformly random slates, each from one simulated episode from the same start with common
    random numbers (the same candidates and click draws as the env would use). Later infos carry 0.
    A long-horizon agent, which trades clicks now for budget later, can score above 1.0.

    ## Vector Env
    ``gymnasium.make_vec("standin/Slate-v0", num_envs)`` steps all copies in one numba kernel;
    ``references=False`` skips the two reference rollouts per reset.

    ## Version History
    * v0: initial version.
    * v0: observations are item-structured (one row per item, shape ``(N, 2T + 4)`` instead of the
      flat ``(N·(T + 2) + T + 2,)``: the same numbers, the global ones repeated on every row), see
      docs/adding-an-environment.md.
    """

    name = "Slate-v0"
    size_kwargs = ("N", "k")
    landscape_kind = "oracle"
    reference = Reference(
        high=(
            "myopic oracle: exact one-step expected engagement maximiser, one simulated episode from the same "
            "start with common random numbers; a long-horizon agent can score above 1.0"
        ),
        high_is_optimum=False,
        low="uniform random slate, one simulated episode with common random numbers",
        per="episode",
    )

    def __init__(self, N=100, k=5, topics=10, horizon=100, temperature=0.5, drift=0.1, budget=20.0,
                 obs_noise=0.1, references=True, render_mode=None):
        self.N = check_int(self.name, "N", N, 2, MAX_N)
        self.k = check_int(self.name, "k", k, 1, self.N - 1)
        self.topics = check_int(self.name, "topics", topics, 1)
        self.horizon = check_int(self.name, "horizon", horizon, 1)
        self.temperature = check_float(self.name, "temperature", temperature, MIN_TEMPERATURE)
        self.drift = check_float(self.name, "drift", drift, 0.0, 1.0)
        self.budget = check_float(self.name, "budget", budget, 0.0, lo_open=True)
        self.obs_noise = check_float(self.name, "obs_noise", obs_noise, 0.0)
        self.render_mode = render_mode
        self.params = Params(self.N, self.k, self.topics, self.horizon, self.temperature, self.drift, self.budget,
                             self.obs_noise, REFILL)

        T = self.topics
        self.item_global_features = T + 2  # agents.layout: interest, B / budget, t / horizon on every row
        noise_bound = np.inf if self.obs_noise > 0 else 1.0
        row_low = np.concatenate([np.zeros(T), [-1.0, 0.0], np.full(T, -noise_bound), [-np.inf, 0.0]])
        row_high = np.concatenate([np.ones(T), [1.0, 1.0], np.full(T, noise_bound), [np.inf, 1.0]])
        low = np.tile(row_low, (self.N, 1)).astype(np.float32)
        high = np.tile(row_high, (self.N, 1)).astype(np.float32)
        self.action_space = KOfN(self.N, self.k)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.references = check_bool(self.name, "references", references)
        self.core = self.make_core(1, self.references)

    def make_core(self, num_envs: int, references: bool = True) -> SlateCore:
        return SlateCore(num_envs, self.params, references)

    # ------------------------------------------------------------ capabilities

    def _state_weights(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.core
        return state_weights(c.interest[0], c.topic[0], c.quality[0], c.appeal[0], self.temperature)

    def landscape(self) -> Objective:
        """The true expected one-step engagement of the current state as a ``search.Objective``.

        ``f(x) = Σ_i x_i w_i e_i / (w_0 + Σ_i x_i w_i)`` with the weights stored relative to the
        no-click option (``w_0 = 1``, ``w_i = exp((u[topic_i] + p_i − 1)/τ)``; dividing every weight by
        ``exp(1/τ)`` changes no probability and keeps the weights in float range). ``params = (w, e,
        [w_0])``; ``aux = (numerator, denominator)``, so a one- or two-bit move costs O(1).
        """
        w, e = self._state_weights()
        return Objective(slate_value, self.N, (w, e, np.ones(1)), delta=slate_delta, update=slate_update,
                         init=slate_init, aux_size=2)

    def optimal_action(self) -> np.ndarray:
        """The myopic oracle: the slate of exactly ``k`` items maximising the expected engagement now.

        ``f(S) = Σ_S w_i e_i / (w_0 + Σ_S w_i)`` is a 0-1 fractional programme; Dinkelbach's
        parametric method solves it exactly. For a guess ``R`` let ``F(R) = max_{|S|=k} Σ_S w_i (e_i − R)
        − w_0 R``; ``f(S) ≥ R`` iff ``Σ_S w_i (e_i − R) ≥ w_0 R``, so ``F(R) ≥ 0`` iff some slate reaches
        ``R``, and the optimum ``f*`` is the root of the decreasing function ``F``. For fixed ``R`` the
        max is separable: the ``k`` items with the largest ``w_i (e_i − R)``. Start at ``R_0 = 0``, take
        that slate ``S``, set ``R' = f(S)``: since ``F(R) = (w_0 + Σ_S w)(f(S) − R)``, ``R' > R`` while
        ``R < f*``, and ``R`` strictly increases through finitely many slates. Stop when ``R' ≤ R``
        (up to 1e-12 relative): then ``max_{|S|=k} Σ_S w_i (e_i − R) = w_0 R``, i.e. no slate beats
        ``R``, which proves the best slate seen optimal. Each iteration is a top-k, O(N log k); ties in
        the ranking go to lower item indices, so the result is deterministic.
        """
        w, e = self._state_weights()
        return dinkelbach(w, e, 1.0, self.k)[1]


class SlateVectorEnv(CoreVectorEnv):
    """Slate-v0 copies stepped together (the ``vector_entry_point``)."""

    env_class = SlateEnv
