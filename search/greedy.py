"""Hill climbing with random restarts: first- or best-improvement over single moves.

From a start state, ``first`` improvement scans the neighbourhood cyclically from a random move
and takes the first move that improves; ``best`` improvement evaluates the whole neighbourhood and
takes the best move if it improves. At a local optimum (a full neighbourhood without improvement)
the search restarts from the next start state (``init``, proposal samples, or uniform), until the
budget is spent.
"""

from __future__ import annotations

import numpy as np

from standin.search.jit import jitable, kernel, kernel_doc, randint
from standin.search.landscapes import kernel_args, ls_commit, ls_delta, ls_nth, ls_reset, ls_value
from standin.search.moves import (
    buffers,
    copy_into,
    improves,
    move_state,
    mv_apply,
    mv_count,
    mv_nth,
    reset_state,
    start_state,
)
from standin.search.trace import record

IMPROVEMENT = ("first", "best")


@jitable
def _greedy_run(D, M, aux, S, x, best_x, budget, first, starts, rng, marks, trace):
    """One hill-climbing search of the landscape ``D`` (see :func:`greedy`); returns ``(score, evaluations)``."""
    best = -np.inf
    evals = 0
    pos = 0
    r = 0
    while evals < budget:
        start_state(M, S, starts, r, x, rng)
        r += 1
        f = ls_reset(D, aux, x)
        evals += 1
        if f > best:
            best = f
            copy_into(best_x, x)
        pos = record(trace, marks, pos, evals, best)
        count = mv_count(M, S)
        if count == 0:
            if starts.shape[0] <= 1:
                break  # a single feasible action, or a fixed start: nothing more to find
            continue
        if first:
            idx = randint(rng, count)
            since = 0  # moves evaluated since the last improvement
            while evals < budget and since < count:
                i, j = mv_nth(M, S, idx)
                d = ls_delta(D, aux, x, f, i, j)
                evals += 1
                if improves(d, f):
                    ls_commit(D, aux, x, i, j)
                    mv_apply(M, S, i, j)
                    f += d
                    since = 0
                    if f > best:
                        best = f
                        copy_into(best_x, x)
                else:
                    since += 1
                pos = record(trace, marks, pos, evals, best)
                idx += 1
                if idx == count:
                    idx = 0
        else:
            while evals < budget:
                best_d = -np.inf
                bi = -1
                bj = -1
                for idx in range(count):
                    if evals >= budget:
                        break
                    i, j = mv_nth(M, S, idx)
                    d = ls_delta(D, aux, x, f, i, j)
                    evals += 1
                    if d > best_d:
                        best_d, bi, bj = d, i, j
                    # the trace counts a move as found when it is evaluated (it will be taken)
                    found = f + best_d if improves(best_d, f) and f + best_d > best else best
                    pos = record(trace, marks, pos, evals, found)
                if bi < 0 or not improves(best_d, f):
                    break
                ls_commit(D, aux, x, bi, bj)
                mv_apply(M, S, bi, bj)
                f += best_d
                if f > best:
                    best = f
                    copy_into(best_x, x)
                pos = record(trace, marks, pos, evals, best)
    return ls_value(D, aux, best_x), evals


@kernel
@kernel_doc('One hill climb with restarts (:func:`greedy`).',
           'score, evaluations : float, int\nThe exact value of ``best_x`` and the evaluations used.')
def _greedy(D, M, aux, S, x, best_x, budget, first, starts, rng, marks, trace):
    return _greedy_run(D, M, aux, S, x, best_x, budget, first, starts, rng, marks, trace)


@kernel
@kernel_doc(':func:`_greedy` on each landscape of ``BD`` (as :func:`~standin.search.anneal.anneal_batch`).')
def greedy_batch(BD, M, aux, S, S0, x, best_X, budget, first, starts, rngs, marks, traces, scores, used):
    for b in range(best_X.shape[0]):
        reset_state(S, S0)
        scores[b], used[b] = _greedy_run(ls_nth(BD, b), M, aux, S, x, best_X[b], budget, first, starts, rngs[b],
                                         marks, traces[b])


def greedy(landscape, moves, budget, rng, marks, trace, starts, *, improvement="first"):
    """Hill climbing with restarts; returns ``(encoding, score, evaluations)``.

    Args:
        improvement: ``"first"`` (take the first improving move) or ``"best"`` (the best one).
    """
    if improvement not in IMPROVEMENT:
        raise ValueError(f"greedy: improvement must be one of {IMPROVEMENT}, got {improvement!r}")
    x, best_x = buffers(moves)
    D, aux, key = kernel_args(landscape)
    score, evals = _greedy.keyed(
        key, D, moves, aux, move_state(moves), x, best_x,
        budget, improvement == "first", starts, rng, marks, trace,
    )
    return best_x, score, evals
