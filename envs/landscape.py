"""A contextual bandit whose reward is a planted spin glass: exact optimum, tunable ruggedness."""

from __future__ import annotations

import numpy as np
from gymnasium import Env, spaces

from envs.reference import Reference
from search import Quadratic

MAX_N = 4096


def _check_int(name, value, lo, hi=None):
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"Landscape-v0: {name} must be an integer in {allowed}, got {value!r}")
    return int(value)


class LandscapeEnv(Env):
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
    A context drawn from the reset seed's ``np_random``. Hidden parameters ``P ∈ R^{n×d}`` and
    ``W ∈ R^{n×M}`` (i.i.d. N(0,1)) are fixed by ``instance_seed``, not by the reset seed.

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

    ## Optimum and Reference
    ``optimal_action()`` returns ``(t + 1)/2``; ``info["optimal_value"] = 0.0`` (exact).
    ``info["random_value"]`` is the exact expected reward of a uniform random action,
    ``−‖W_t‖_F²/(n·M) − β/2`` (``−1/2`` with ``alpha=None``). ``landscape()`` returns the exact reward
    of the current context as a ``search.Quadratic`` on the binary action.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": []}
    size_kwargs = ("n",)  # the arguments that set |A|; reports plot against them
    reference = Reference(
        high="planted optimum (exact)",
        high_is_optimum=True,
        low="uniform random action (exact expectation)",
    )

    def __init__(self, n=64, context_dim=8, alpha=0.5, field=0.1, horizon=1, instance_seed=0, render_mode=None):
        self.n = _check_int("n", n, 2, MAX_N)
        self.context_dim = _check_int("context_dim", context_dim, 1)
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0):
            raise ValueError(f"Landscape-v0: alpha must be a number > 0 or None, got {alpha!r}")
        if isinstance(field, bool) or not isinstance(field, (int, float)) or not field >= 0:
            raise ValueError(f"Landscape-v0: field must be a number >= 0, got {field!r}")
        self.alpha = None if alpha is None else float(alpha)
        self.field = float(field)
        self.horizon = _check_int("horizon", horizon, 1)
        self.instance_seed = _check_int("instance_seed", instance_seed, 0)
        self.render_mode = render_mode

        self.M = 0 if self.alpha is None else max(1, round(self.alpha * self.n))
        params = np.random.default_rng(self.instance_seed)
        self._P = params.standard_normal((self.n, self.context_dim))
        self._W = params.standard_normal((self.n, self.M))
        self._W_sq = float(np.sum(self._W**2))

        self.action_space = spaces.MultiBinary(self.n)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.context_dim,), np.float32)
        self._context = None

    # ----------------------------------------------------------------- dynamics

    def _new_context(self):
        c = self.np_random.standard_normal(self.context_dim).astype(np.float32)
        t = np.where(self._P @ c.astype(np.float64) >= 0.0, 1.0, -1.0)
        self._context, self._t = c, t
        self._tW = self._W.T @ t  # (M,), tᵀW
        return c

    def _info(self):
        return {"optimal_value": 0.0, "random_value": self._random_value()}

    def _random_value(self) -> float:
        if self.alpha is None:
            return -0.5
        wt_sq = self._W_sq - float(self._tW @ self._tW) / self.n  # ‖W_t‖_F²
        return -wt_sq / (self.n * self.M) - self.field / 2.0

    def reward(self, action) -> float:
        """The reward of ``action`` in the current context (no state change)."""
        s = 2.0 * np.asarray(action, dtype=np.float64) - 1.0
        st = float(s @ self._t)
        if self.alpha is None:
            return -(self.n - st) / (2.0 * self.n)
        proj = self._W.T @ s - self._tW * (st / self.n)  # W_tᵀ s
        return -float(proj @ proj) / (self.n * self.M) - self.field * (self.n - st) / (2.0 * self.n)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._steps = 0
        return self._new_context(), self._info()

    def step(self, action):
        if self._context is None:
            raise RuntimeError("Landscape-v0: call reset() before step()")
        a = np.asarray(action)
        if a.shape != (self.n,) or not np.isin(a, (0, 1)).all():
            raise ValueError(
                f"Landscape-v0: action must be a 0/1 array of shape ({self.n},) in MultiBinary({self.n}), "
                f"got shape {a.shape} with values {np.unique(a)[:5].tolist()}"
            )
        r = self.reward(a)
        self._steps += 1
        terminated = self._steps >= self.horizon
        obs = self._new_context()
        return obs, r, terminated, False, self._info()

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
        if self.alpha is None:
            return Quadratic(-(n + t.sum()) / (2.0 * n), t / n)
        nm = n * self.M
        Wt = self._W - np.outer(t, self._tW) / n
        v = Wt.sum(axis=0)  # W_tᵀ 1
        h = 4.0 * (Wt @ v) / nm + self.field * t / n
        c = -float(v @ v) / nm - self.field * (n + t.sum()) / (2.0 * n)
        return Quadratic.from_factors(c, h, Wt, np.full(self.M, -4.0 / nm))
