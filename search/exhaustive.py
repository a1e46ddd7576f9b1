"""Exhaustive search: every feasible action, each reached from the previous one by a few bit flips,
so each costs O(1) deltas instead of a full evaluation.

- ``Binary``: Gray code over the unmasked bits (one flip per action);
- ``KOfN``: combinations of the allowed items in lexicographic order (on average about two flips
  per action);
- ``Discrete``: reflected mixed-radix Gray code over the allowed values (one component changes per
  action).
"""

from __future__ import annotations

import numpy as np

from standin.search.jit import jitable, kernel, kernel_doc
from standin.search.landscapes import kernel_args, ls_commit, ls_delta, ls_reset, ls_value
from standin.search.moves import buffers, copy_into, move_state, mv_reset
from standin.search.spaces import CHANGE, FLIP, SWAP
from standin.search.trace import record

#: The most actions ``exhaustive`` enumerates.
MAX_CANDIDATES = 2**32


@jitable
def _flip(D, aux, x, f, i):
    d = ls_delta(D, aux, x, f, i, -1)
    ls_commit(D, aux, x, i, -1)
    return f + d


@kernel
@kernel_doc('Every feasible action, each reached from the previous one by a few bit flips (module docstring): a '
           'Gray code over the bits (``FLIP``), the combinations in lexicographic order (``SWAP``), a '
           'mixed-radix Gray code over the components (``CHANGE``).',
           'score, evaluations : float, int\nThe exact value of ``best_x`` and the actions enumerated.')
def _exhaustive(D, M, aux, S, x, best_x, digits, step, marks, trace):
    free, start = S.allowed, S.start  # the allowed positions, ascending (a fresh state: unpermuted)
    k = M.k
    for i in range(M.m):
        x[i] = 0
    if M.kind == SWAP:  # the first combination takes the first k
        for t in range(k):
            x[free[t]] = 1
    elif M.kind == CHANGE:  # every component starts at its first allowed value
        for g in range(start.shape[0] - 1):
            x[free[start[g]]] = 1
    mv_reset(M, S, x)
    f = ls_reset(D, aux, x)
    best = f
    copy_into(best_x, x)
    evals = np.int64(1)
    pos = record(trace, marks, 0, evals, best)
    if M.kind == FLIP:
        total = np.int64(1) << free.shape[0]
        for t in range(1, total):
            b = 0
            while not (t >> b) & 1:
                b += 1
            f = _flip(D, aux, x, f, free[b])
            evals += 1
            if f > best:
                best = f
                copy_into(best_x, x)
            pos = record(trace, marks, pos, evals, best)
    elif M.kind == SWAP:
        pool = free
        size = pool.shape[0]
        for t in range(k):
            digits[t] = t
        while True:
            t = k - 1
            while t >= 0 and digits[t] == size - k + t:
                t -= 1
            if t < 0:
                break
            for b in range(t, k):  # items digits[t:] leave ...
                f = _flip(D, aux, x, f, pool[digits[b]])
            digits[t] += 1
            for b in range(t + 1, k):
                digits[b] = digits[b - 1] + 1
            for b in range(t, k):  # ... and the next combination's items digits[t:] enter
                f = _flip(D, aux, x, f, pool[digits[b]])
            evals += 1
            if f > best:
                best = f
                copy_into(best_x, x)
            pos = record(trace, marks, pos, evals, best)
    else:  # Gray code over the components' values: cur, each one's value among its allowed values
        cur, movable = S.cur, S.movable
        for t in range(movable.shape[0]):
            step[t] = 1
        while True:
            moved = False
            for t in range(movable.shape[0]):
                g = movable[t]
                nxt = cur[g] + step[t]
                if 0 <= nxt < start[g + 1] - start[g]:
                    i = free[start[g] + cur[g]]
                    j = free[start[g] + nxt]
                    d = ls_delta(D, aux, x, f, i, j)
                    ls_commit(D, aux, x, i, j)
                    f += d
                    cur[g] = nxt
                    moved = True
                    break
                step[t] = -step[t]  # this digit is at its end: reverse it and carry
            if not moved:
                break
            evals += 1
            if f > best:
                best = f
                copy_into(best_x, x)
            pos = record(trace, marks, pos, evals, best)
    # the running sum drifts by rounding; report the exact value of the best action
    return ls_value(D, aux, best_x), evals


def exhaustive(landscape, moves, marks, trace):
    """Enumerate every feasible action; returns ``(encoding, score, evaluations)``."""
    x, best_x = buffers(moves)
    digits = np.zeros(moves.m + 1, dtype=np.int64)
    step = np.zeros(moves.m + 1, dtype=np.int64)
    D, aux, key = kernel_args(landscape)
    score, evals = _exhaustive.keyed(
        key, D, moves, aux, move_state(moves), x, best_x, digits, step,
        marks, trace,
    )
    return best_x, score, evals
