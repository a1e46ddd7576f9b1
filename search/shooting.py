"""Random shooting: evaluate ``budget`` uniformly random actions and keep the best."""

from __future__ import annotations

import numpy as np

from search._jit import njit, random_bits
from search.landscapes import quad_value
from search.trace import record


@njit
def _shoot_quadratic(c, h, J, budget, state, marks, trace):
    n = h.shape[0]
    x = np.empty(n, dtype=np.int8)
    best_x = np.zeros(n, dtype=np.int8)
    best = -np.inf
    pos = 0
    for k in range(budget):
        random_bits(state, x)
        f = quad_value(c, h, J, x)
        if f > best:
            best = f
            best_x[:] = x
        pos = record(trace, marks, pos, k + 1, best)
    return best_x, best, budget


def random_shooting(landscape, budget: int, state, marks, trace):
    """Uniform random actions; returns ``(action, score, evaluations)``."""
    return _shoot_quadratic(landscape.c, landscape.h, landscape.J, budget, state, marks, trace)
