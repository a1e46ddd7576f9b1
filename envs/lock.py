"""A combination lock: one exact key among ``2^n`` actions, with optional shaping towards it."""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from standin.envs._core import Core, CoreEnv, CoreVectorEnv, check_bool, check_float, check_int
from standin.envs.reference import Reference
from standin.search import Objective
from standin.search.jit import jitable, njit, normal

MAX_N = 4096


@jitable
def _reward(matches, n, shaping, power):
    """The reward of an action that agrees with the key on ``matches`` of its ``n`` bits."""
    if matches == n:
        return 1.0
    return shaping * (matches / n) ** power


@njit
def _new_contexts(rng, P, idx, context, key):
    """Draw a context ``c ~ N(0, I)`` for each environment in ``idx`` and set its key ``[P c ≥ 0]``."""
    n, d = P.shape
    for i in idx:
        for j in range(d):
            context[i, j] = np.float32(normal(rng[i]))
        for r in range(n):
            s = 0.0
            for j in range(d):
                s += P[r, j] * np.float64(context[i, j])
            key[i, r] = 1 if s >= 0.0 else 0


@njit
def _rewards(actions, idx, key, shaping, power):
    """The reward of ``actions[j]`` against environment ``idx[j]``'s key."""
    n = key.shape[1]
    out = np.empty(idx.shape[0])
    for j in range(idx.shape[0]):
        i = idx[j]
        matches = 0
        for r in range(n):
            if actions[j, r] == key[i, r]:
                matches += 1
        out[j] = _reward(matches, n, shaping, power)
    return out


def random_value(n: int, shaping: float, power: float) -> float:
    """The exact expected reward of a uniform random action: the number of matching bits is
    Binomial(n, 1/2), so ``E = 2^-n + shaping · Σ_{m<n} C(n, m) 2^-n (m/n)^power``.

    Each term is summed as ``exp(log C(n, m) − n log 2 + power · log(m/n))`` (``math.lgamma``), which
    neither overflows nor underflows before it matters, up to ``n = 4096`` and beyond.
    """
    total = 0.0
    log_half_n = n * math.log(2.0)
    log_n_fact = math.lgamma(n + 1)
    for m in range(1, n):  # m = 0 contributes 0^power = 0
        log_term = log_n_fact - math.lgamma(m + 1) - math.lgamma(n - m + 1) - log_half_n + power * math.log(m / n)
        total += math.exp(log_term)
    return math.ldexp(1.0, -n) + shaping * total


# ------------------------------------------------------------------ the landscape as a search.Objective
#
# params = (key int8 (n,), [shaping, power]); aux = [number of bits of x that match the key].


@njit
def _lock_value(x, params):
    key, sp = params
    matches = 0
    for r in range(x.shape[0]):
        if x[r] == key[r]:
            matches += 1
    return _reward(matches, x.shape[0], sp[0], sp[1])


@njit
def _lock_init(x, aux, params):
    key = params[0]
    matches = 0
    for r in range(x.shape[0]):
        if x[r] == key[r]:
            matches += 1
    aux[0] = matches


@njit
def _lock_change(x, key, i, j):
    """How the number of matching bits changes when bit ``i`` (and ``j`` if ``j ≥ 0``) flips."""
    change = -1 if x[i] == key[i] else 1
    if j >= 0:
        change += -1 if x[j] == key[j] else 1
    return change


@njit
def _lock_delta(x, aux, params, i, j):
    key, sp = params
    n = x.shape[0]
    matches = int(aux[0])
    after = matches + _lock_change(x, key, i, j)
    return _reward(after, n, sp[0], sp[1]) - _reward(matches, n, sp[0], sp[1])


@njit
def _lock_update(x, aux, params, i, j):
    aux[0] += _lock_change(x, params[0], i, j)


class LockCore(Core):
    """``num_envs`` Lock-v0 environments sharing the hidden projection ``P``."""

    def __init__(self, num_envs, P, shaping, power, horizon, random, references=True):
        super().__init__(num_envs, references)
        self.P, self.shaping, self.power, self.horizon, self.random = P, shaping, power, horizon, random
        n, d = P.shape
        self.context = np.zeros((num_envs, d), dtype=np.float32)
        self.key = np.ones((num_envs, n), dtype=np.int8)
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def reset(self, idx):
        _new_contexts(self.rng, self.P, idx, self.context, self.key)
        self.steps[idx] = 0

    def step(self, actions, idx):
        r = _rewards(actions, idx, self.key, self.shaping, self.power)
        self.steps[idx] += 1
        _new_contexts(self.rng, self.P, idx, self.context, self.key)
        return r, self.steps[idx] >= self.horizon, np.zeros(len(idx), dtype=bool)

    def observe(self, idx):
        return self.context[idx]

    def info(self, idx):
        if not self.references:
            return {}
        k = len(idx)
        return {"optimal_value": np.ones(k), "random_value": np.full(k, self.random)}


class LockEnv(CoreEnv):
    """Open a combination lock of ``n`` bits whose key depends on the context: a needle in a haystack.

    ## Description
    Each step shows a fresh context ``c``. The key is ``k = [P c ≥ 0] ∈ {0,1}^n`` (bit ``r`` is 1
    where ``(P c)_r ≥ 0``); the action that equals the key earns 1. Every other action earns
    ``shaping · (m/n)^power``, where ``m`` is the number of bits it shares with the key. With
    ``shaping = 0`` this is a pure needle: one action of ``2^n`` pays, the rest pay 0, and neither
    search nor a policy gradient gets a foothold. Shaping gives both a slope to climb (every single
    correct bit pays a little); ``power > 1`` flattens the slope far from the key. A policy can
    represent the optimum (each bit is a linear threshold of ``c``).

    ## Action Space
    ``MultiBinary(n)``.

    ## Observation Space
    ``Box(-inf, inf, (context_dim,), float32)``: the context ``c ~ N(0, I)``.

    ## Rewards
    1 for the key; ``shaping · (m/n)^power ∈ [0, shaping·(1 − 1/n)^power]`` otherwise.

    ## Starting State
    A context drawn from the environment's random stream (seeded through ``np_random``). The hidden
    ``P ∈ R^{n×d}`` (i.i.d. N(0, 1)) is fixed by ``instance_seed``, not by the reset seed.

    ## Episode End
    Terminates after ``horizon`` steps, with a fresh context each step (steps are independent
    decisions).

    ## Arguments
    | name | default | allowed | meaning |
    |---|---|---|---|
    | n | 32 | 2..4096 | key bits; ``|A| = 2^n`` |
    | context_dim | 8 | ≥ 1 | dimension ``d`` of the context |
    | shaping | 0.1 | [0, 1] | reward scale of partial matches; 0 is a pure needle |
    | power | 1.0 | ≥ 1 | exponent of the matching fraction; larger is flatter far from the key |
    | horizon | 1 | ≥ 1 | steps per episode |
    | instance_seed | 0 | int ≥ 0 | fixes ``P`` |
    | references | True | bool | ``optimal_value``, ``random_value`` in ``info``; False skips their cost |

    ## Optimum and Reference
    ``optimal_action()`` returns the key; ``info["optimal_value"] = 1.0`` (exact).
    ``info["random_value"]`` is the exact expected reward of a uniform random action,
    ``2^-n + shaping · Σ_{m<n} C(n, m) 2^-n (m/n)^power`` (the same for every context; computed
    once, in log space). ``landscape()`` (``landscape_kind = "oracle"``) is the exact step reward of
    the current context as a ``search.Objective`` with O(1) single- and two-bit deltas. Local search
    climbs it to the key when ``shaping > 0``; with ``shaping = 0`` it is flat away from the key.

    ## Vector Env
    ``gymnasium.make_vec("standin/Lock-v0", num_envs)`` steps all copies in one numba kernel.

    ## Version History
    * v0: initial version.
    """

    name = "Lock-v0"
    size_kwargs = ("n",)
    landscape_kind = "oracle"
    reference = Reference(
        high="the key (exact optimum, reward 1)",
        high_is_optimum=True,
        low="uniform random action (exact expectation)",
    )

    def __init__(self, n=32, context_dim=8, shaping=0.1, power=1.0, horizon=1, instance_seed=0, references=True,
                 render_mode=None):
        self.n = check_int(self.name, "n", n, 2, MAX_N)
        self.context_dim = check_int(self.name, "context_dim", context_dim, 1)
        self.shaping = check_float(self.name, "shaping", shaping, 0.0, 1.0)
        self.power = check_float(self.name, "power", power, 1.0)
        self.horizon = check_int(self.name, "horizon", horizon, 1)
        self.instance_seed = check_int(self.name, "instance_seed", instance_seed, 0)
        self.render_mode = render_mode

        self._P = np.random.default_rng(self.instance_seed).standard_normal((self.n, self.context_dim))
        self.random_value = random_value(self.n, self.shaping, self.power)

        self.action_space = spaces.MultiBinary(self.n)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.context_dim,), np.float32)
        self.references = check_bool(self.name, "references", references)
        self.core = self.make_core(1, self.references)

    def make_core(self, num_envs: int, references: bool = True) -> LockCore:
        return LockCore(num_envs, self._P, self.shaping, self.power, self.horizon, self.random_value, references)

    def reward(self, action) -> float:
        """The reward of ``action`` in the current context (no state change)."""
        a = self.check_action(action)
        return float(_rewards(a[None], np.zeros(1, np.int64), self.core.key, self.shaping, self.power)[0])

    # ------------------------------------------------------------ capabilities

    def optimal_action(self) -> np.ndarray:
        """The key of the current context."""
        return self.core.key[0].copy()

    def landscape(self) -> Objective:
        """The exact reward of the current context on the binary action, as a ``search.Objective``
        whose incremental state is the number of matching bits (O(1) deltas)."""
        params = (self.core.key[0].copy(), np.array([self.shaping, self.power]))
        return Objective(_lock_value, self.n, params, delta=_lock_delta, update=_lock_update, init=_lock_init,
                         aux_size=1)


class LockVectorEnv(CoreVectorEnv):
    """Lock-v0 copies stepped together (the ``vector_entry_point``)."""

    env_class = LockEnv
