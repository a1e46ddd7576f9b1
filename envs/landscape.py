"""A contextual bandit whose reward is a planted spin glass: exact optimum, tunable ruggedness."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from standin.envs._core import Core, CoreEnv, CoreVectorEnv, check_bool, check_float, check_int
from standin.envs.reference import Reference
from standin.search import Quadratic
from standin.search.jit import njit, normal

MAX_N = 4096
GRAM_MAX_N = 2048
"""Up to this n, :meth:`LandscapeEnv.landscape` builds the dense form from the Gram matrix ``W Wᵀ`` kept
on the env (n² floats: 32 MiB at 2048) wherever the dense form is the cheaper one to search."""


@njit
def _gram_couplings(G, u, t, k, inv_n, scale, J, h):
    """``J = scale · (G − (u tᵀ + t uᵀ)/n + k t tᵀ)`` off the diagonal, the diagonal added to ``h``
    (``a_i² = a_i``) and set to 0. ``G`` is symmetric and ``t`` is ±1, so every product with ``t`` is
    exact and ``J`` comes out exactly symmetric."""
    n = G.shape[0]
    un = u * inv_n
    for i in range(n):
        for j in range(n):
            value = scale * (G[i, j] - (un[i] * t[j] + t[i] * un[j]) + (k * t[i]) * t[j])
            if i == j:
                h[i] += value
                J[i, j] = 0.0
            else:
                J[i, j] = value


@njit
def _new_contexts(rng, P, W, W_colsum, idx, context, t, tW):
    """Draw a context ``c ~ N(0, I)`` for each environment in ``idx``; set ``t = sign(P c)`` and
    ``tᵀW = 2·Σ_{r: t_r = 1} W[r] − 1ᵀW`` (rows of ``W`` read in memory order)."""
    n, d = P.shape
    M = W.shape[1]
    for i in idx:
        for j in range(d):
            context[i, j] = np.float32(normal(rng[i]))
        for k in range(M):
            tW[i, k] = -W_colsum[k]
        for r in range(n):
            s = 0.0
            for j in range(d):
                s += P[r, j] * np.float64(context[i, j])
            up = 1.0 if s >= 0.0 else 0.0
            t[i, r] = 2.0 * up - 1.0
            for k in range(M):  # branch-free: the signs of P c are random
                tW[i, k] += 2.0 * up * W[r, k]


@njit
def _rewards(actions, idx, t, tW, W, W_colsum, field, smooth):
    """The reward of ``actions[j]`` in environment ``idx[j]``'s context (see the env docstring).

    ``Wᵀs = 2·Σ_{r: a_r = 1} W[r] − 1ᵀW`` for the spins ``s = 2a − 1``."""
    n, M = W.shape
    out = np.empty(idx.shape[0])
    proj = np.empty(M)
    for j in range(idx.shape[0]):
        i = idx[j]
        st = 0.0
        for r in range(n):
            st += (2.0 * actions[j, r] - 1.0) * t[i, r]
        if smooth:
            out[j] = -(n - st) / (2.0 * n)
            continue
        for k in range(M):
            proj[k] = -tW[i, k] * (st / n) - W_colsum[k]
        for r in range(n):
            a = 2.0 * actions[j, r]
            for k in range(M):  # branch-free: actions are often random
                proj[k] += a * W[r, k]
        sq = 0.0
        for k in range(M):
            sq += proj[k] * proj[k]
        out[j] = -sq / (n * M) - field * (n - st) / (2.0 * n)
    return out


class LandscapeCore(Core):
    """``num_envs`` Landscape-v0 environments sharing the hidden ``P`` and ``W``."""

    def __init__(self, num_envs, P, W, field, smooth, horizon, references=True):
        super().__init__(num_envs, references)
        self.P, self.W, self.field, self.smooth, self.horizon = P, W, field, smooth, horizon
        n, d = P.shape
        self.W_sq = float(np.sum(W**2))
        self.W_colsum = W.sum(axis=0)
        self.context = np.zeros((num_envs, d), dtype=np.float32)
        self.t = np.ones((num_envs, n))
        self.tW = np.zeros((num_envs, W.shape[1]))
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def reset(self, idx):
        _new_contexts(self.rng, self.P, self.W, self.W_colsum, idx, self.context, self.t, self.tW)
        self.steps[idx] = 0

    def step(self, actions, idx):
        r = _rewards(actions, idx, self.t, self.tW, self.W, self.W_colsum, self.field, self.smooth)
        self.steps[idx] += 1
        _new_contexts(self.rng, self.P, self.W, self.W_colsum, idx, self.context, self.t, self.tW)
        return r, self.steps[idx] >= self.horizon, np.zeros(len(idx), dtype=bool)

    def observe(self, idx):
        return self.context[idx]

    def info(self, idx):
        k = len(idx)
        if not self.references:
            return {}
        if self.smooth:
            random = np.full(k, -0.5)
        else:
            n, M = self.W.shape
            wt_sq = self.W_sq - np.einsum("ik,ik->i", self.tW[idx], self.tW[idx]) / n  # ‖W_t‖_F²
            random = -wt_sq / (n * M) - self.field / 2.0
        return {"optimal_value": np.zeros(k), "random_value": random}


class LandscapeEnv(CoreEnv):
    """Choose ``n`` bits given a context; the reward is a planted spin glass with optimum 0.

    ## Description
    Each step shows a fresh context ``c``. A hidden target ``t = sign(P c) ∈ {−1,+1}^n`` is the
    unique best action (``a = (t+1)/2``). Around it lies a rugged quadratic landscape: with spins
    ``s = 2a − 1`` and ``W_t = W − t (tᵀW)/n`` (columns of ``W`` projected orthogonal to ``t``),

        r(s) = −‖W_tᵀ s‖² / (n·M) − β · (n − s·t) / (2n),

    where ``M = max(1, round(alpha·n))``. The first term is a Hopfield-style spin glass with
    ``M`` patterns: its zero set contains ``±t``, and smaller ``alpha`` (fewer patterns) leaves
    more, wider local optima. The field term ``β`` breaks the ``±t`` symmetry. A policy can
    represent the optimum easily (each bit is a linear threshold of ``c``); a search has to find
    it on the landscape.

    ## Action Space
    ``MultiBinary(n)``.

    ## Observation Space
    ``Box(-inf, inf, (context_dim,), float32)``: the context ``c ~ N(0, I)``.

    ## Rewards
    ``r(s)`` above, in ``[−(1 + β)·max‖W_t‖²/(nM), 0]``; exactly 0 at the optimum. With
    ``alpha=None`` the quadratic term is dropped and the reward is the separable Hamming landscape
    ``r = −(n − s·t)/(2n)`` (``field`` is then unused).

    ## Starting State
    A context drawn from the environment's random stream (seeded through ``np_random``). Hidden
    parameters ``P ∈ R^{n×d}`` and ``W ∈ R^{n×M}`` (i.i.d. N(0,1)) are fixed by ``instance_seed``,
    not by the reset seed.

    ## Episode End
    Terminates after ``horizon`` steps (contexts are i.i.d., so steps are independent decisions).

    ## Arguments
    | name | default | allowed | meaning |
    |---|---|---|---|
    | n | 64 | 2..4096 | action bits; ``|A| = 2^n`` |
    | context_dim | 8 | ≥ 1 | dimension ``d`` of the context |
    | alpha | 0.5 | > 0 or None | patterns per bit; smaller is more rugged; None: smooth, separable |
    | field | 0.1 | ≥ 0 | weight ``β`` of the field towards ``t`` |
    | horizon | 1 | ≥ 1 | steps per episode |
    | instance_seed | 0 | int | fixes ``P`` and ``W`` |
    | references | True | bool | ``optimal_value``, ``random_value`` in ``info``; False skips their cost |

    ## Optimum and Reference
    ``optimal_action()`` returns ``(t + 1)/2``; ``info["optimal_value"] = 0.0`` (exact).
    ``info["random_value"]`` is the exact expected reward of a uniform random action,
    ``−‖W_t‖_F²/(n·M) − β/2`` (``−1/2`` with ``alpha=None``). ``landscape()`` returns the exact reward
    of the current context as a ``search.Quadratic`` on the binary action.

    ## Vector Env
    ``gymnasium.make_vec("standin/Landscape-v0", num_envs)`` steps all copies in one numba kernel.

    ## Version History
    * v0: initial version.
    """

    name = "Landscape-v0"
    landscape_kind = "oracle"  # landscape() is the exact reward
    size_kwargs = ("n",)  # the arguments that set |A|; reports plot against them
    reference = Reference(
        high="planted optimum (exact)",
        high_is_optimum=True,
        low="uniform random action (exact expectation)",
    )

    def __init__(self, n=64, context_dim=8, alpha=0.5, field=0.1, horizon=1, instance_seed=0, references=True,
                 render_mode=None):
        self.n = check_int(self.name, "n", n, 2, MAX_N)
        self.context_dim = check_int(self.name, "context_dim", context_dim, 1)
        self.alpha = None if alpha is None else check_float(self.name, "alpha", alpha, 0.0, lo_open=True)
        self.field = check_float(self.name, "field", field, 0.0)
        self.horizon = check_int(self.name, "horizon", horizon, 1)
        self.instance_seed = check_int(self.name, "instance_seed", instance_seed, 0)
        self.render_mode = render_mode

        self.M = 0 if self.alpha is None else max(1, round(self.alpha * self.n))
        params = np.random.default_rng(self.instance_seed)
        self._P = params.standard_normal((self.n, self.context_dim))
        self._W = params.standard_normal((self.n, self.M))
        self._gram = None  # W Wᵀ, for the dense form of landscape()

        self.action_space = spaces.MultiBinary(self.n)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.context_dim,), np.float32)
        self.references = check_bool(self.name, "references", references)
        self.core = self.make_core(1, self.references)

    def make_core(self, num_envs: int, references: bool = True) -> LandscapeCore:
        return LandscapeCore(num_envs, self._P, self._W, self.field, self.alpha is None, self.horizon, references)

    @property
    def _t(self) -> np.ndarray:
        return self.core.t[0]

    def reward(self, action) -> float:
        """The reward of ``action`` in the current context (no state change)."""
        a = self.check_action(action)
        core = self.core
        return float(_rewards(a[None], np.zeros(1, np.int64), core.t, core.tW, self._W, core.W_colsum,
                              self.field, self.alpha is None)[0])

    # ------------------------------------------------------------ capabilities

    def optimal_action(self) -> np.ndarray:
        """The planted optimum ``(t + 1)/2`` for the current context."""
        return ((self._t + 1) // 2).astype(np.int8)

    def landscape(self) -> Quadratic:
        """The exact reward of the current context as a ``Quadratic`` on the binary action ``a``.

        With ``s = 2a − 1``: ``r = c + h·a − 4/(nM) Σ_k (W_t[:, k]·a)²`` where ``v = W_tᵀ1``,
        ``h = 4 W_t v/(nM) + βt/n`` and ``c = −‖v‖²/(nM) − β(n + Σt)/(2n)``: a rank-``M`` quadratic,
        stored low rank or dense, whichever is cheaper to search (:meth:`Quadratic.from_factors`).
        With ``alpha=None`` it is linear.
        """
        n, t = self.n, self._t
        tW = self.core.tW[0]
        if self.alpha is None:
            return Quadratic(-(n + t.sum()) / (2.0 * n), t / n)
        nm = n * self.M
        if 5 * self.M > n and n <= GRAM_MAX_N:  # dense is the cheaper form to search: build it from W Wᵀ
            return self._dense_landscape(t, tW)
        Wt = self._W - np.outer(t, tW) / n
        v = Wt.sum(axis=0)  # W_tᵀ 1
        h = 4.0 * (Wt @ v) / nm + self.field * t / n
        c = -float(v @ v) / nm - self.field * (n + t.sum()) / (2.0 * n)
        return Quadratic.from_factors(c, h, Wt, np.full(self.M, -4.0 / nm))

    def _dense_landscape(self, t, tW) -> Quadratic:
        """:meth:`landscape` in the dense form, in O(n² + nM) per context: ``W_t = W − t tWᵀ/n`` is a
        rank-one change of ``W``, so ``W_t W_tᵀ = G − (u tᵀ + t uᵀ)/n + ‖tW‖² t tᵀ/n²`` with the Gram
        matrix ``G = W Wᵀ`` (computed once per env) and ``u = W tW``; its diagonal goes into ``h``."""
        n = self.n
        nm = n * self.M
        if self._gram is None:
            G = self._W @ self._W.T
            self._gram = 0.5 * (G + G.T)  # exactly symmetric (a product's blocks may round apart)
        u = self._W @ tW
        v = self._W.sum(axis=0) - tW * (t.sum() / n)  # W_tᵀ 1
        wtv = self._W @ v - t * (float(tW @ v) / n)  # W_t v
        h = 4.0 * wtv / nm + self.field * t / n
        c = -float(v @ v) / nm - self.field * (n + t.sum()) / (2.0 * n)
        J = np.empty((n, n))
        _gram_couplings(self._gram, u, t, float(tW @ tW) / (n * n), 1.0 / n, -4.0 / nm, J, h)
        return Quadratic.from_symmetric(c, h, J)


class LandscapeVectorEnv(CoreVectorEnv):
    """Landscape-v0 copies stepped together (the ``vector_entry_point``)."""

    env_class = LandscapeEnv
