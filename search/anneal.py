"""Single-flip simulated annealing with a geometric temperature schedule and restarts.

The temperature range is derived from the landscape's delta scale, as dwave-neal does for
Ising problems: at the hot end the largest possible single-flip loss is accepted with
probability 1/2; at the cold end the smallest single-flip change seen at the two corner
states ``x = 0`` and ``x = 1`` is accepted with probability 1/100, so the run ends greedy.
"""

from __future__ import annotations

import math

import numpy as np

from search._jit import njit, randint, random_bits, uniform
from search.landscapes import quad_fields, quad_flip, quad_value
from search.trace import record


def temperature_range(landscape) -> tuple[float, float]:
    """``(t_hot, t_cold)`` for :func:`anneal` from the single-flip delta scale of ``landscape``."""
    bounds = landscape.flip_bounds()
    hot = float(bounds.max()) / math.log(2.0)
    corner = np.concatenate([np.abs(landscape.h), np.abs(landscape.h + 2.0 * landscape.J.sum(axis=1))])
    corner = corner[corner > 1e-12 * max(hot, 1e-300)]
    if hot <= 0.0 or corner.size == 0:  # a constant landscape: any positive range will do
        return 1.0, 1e-3
    cold = float(corner.min()) / math.log(100.0)
    return hot, min(cold, hot)


@njit
def _anneal_quadratic(c, h, J, budget, restarts, t_hot, t_cold, init, has_init, state, marks, trace):
    n = h.shape[0]
    x = np.empty(n, dtype=np.int8)
    g = np.empty(n, dtype=np.float64)
    best_x = np.zeros(n, dtype=np.int8)
    best = -np.inf
    evals = 0
    pos = 0
    for r in range(restarts):
        # split the budget evenly; the first `budget % restarts` restarts get one more evaluation
        share = budget // restarts + (1 if r < budget % restarts else 0)
        if has_init:
            x[:] = init
        else:
            random_bits(state, x)
        quad_fields(h, J, x, g)
        f = quad_value(c, h, J, x)
        evals += 1
        if f > best:
            best = f
            best_x[:] = x
        pos = record(trace, marks, pos, evals, best)
        steps = share - 1
        if steps <= 0:
            continue
        temp = t_hot
        factor = (t_cold / t_hot) ** (1.0 / (steps - 1)) if steps > 1 else 1.0
        for _ in range(steps):
            i = randint(state, n)
            delta = (1 - 2 * x[i]) * g[i]
            if delta >= 0.0 or uniform(state) < math.exp(delta / temp):
                quad_flip(J, g, x, i)
                f += delta
                if f > best:
                    best = f
                    best_x[:] = x
            evals += 1
            pos = record(trace, marks, pos, evals, best)
            temp *= factor
    # the running sum drifts by rounding; report the exact value of the best action
    return best_x, quad_value(c, h, J, best_x), evals


def anneal(landscape, budget: int, state, marks, trace, *, restarts=1, t_hot=None, t_cold=None, init=None):
    """Simulated annealing; returns ``(action, score, evaluations)``.

    Args:
        restarts: independent runs that split the budget; each starts from ``init`` or at random.
        t_hot, t_cold: temperature range; derived from the landscape when not given.
        init: a starting action ``(n,)`` of 0/1.
    """
    n = landscape.n
    if not isinstance(restarts, int) or restarts < 1 or restarts > budget:
        raise ValueError(f"anneal: restarts must be an integer in 1..budget ({budget}), got {restarts!r}")
    auto_hot, auto_cold = temperature_range(landscape)
    t_hot = auto_hot if t_hot is None else float(t_hot)
    t_cold = min(auto_cold, t_hot) if t_cold is None else float(t_cold)
    if not (t_hot > 0 and t_cold > 0 and t_cold <= t_hot):
        raise ValueError(f"anneal: need 0 < t_cold <= t_hot, got t_hot={t_hot}, t_cold={t_cold}")
    has_init = init is not None
    init_arr = np.zeros(n, dtype=np.int8) if init is None else init
    return _anneal_quadratic(
        landscape.c, landscape.h, landscape.J, budget, restarts, t_hot, t_cold, init_arr, has_init,
        state, marks, trace,
    )
