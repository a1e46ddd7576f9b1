"""Tabu search: best non-tabu move each iteration, with aspiration and restarts.

Each iteration evaluates the whole neighbourhood and makes the best move that is not tabu, even
when it makes things worse (that is how tabu search leaves local optima); ties are broken uniformly
at random, so a plateau is crossed by a random walk rather than in a fixed order.

What is tabu is undoing a recent move, for ``tenure`` iterations: flipping back a bit just flipped;
for a swap or a component change, taking back the item or value just dropped (the other items and
values stay free). A tabu move is still taken when it would give a new best (aspiration); when
every move is tabu, the best one is taken anyway. ``restarts`` split the budget between
independent runs; within its share, a run that finds no new best for ``patience`` iterations starts
afresh (a short tenure can cycle).
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


def default_tenure(moves) -> int:
    """``min(20, max(1, free // 4))`` for ``free`` changeable bits: Palubeckis's QUBO tabu rule."""
    return int(min(20, max(1, int(moves.allowed.sum()) // 4)))


@jitable
def _tabu_run(D, M, aux, S, x, best_x, until, budget, tenure, restarts, patience, starts, rng, marks, trace):
    """One tabu search of the landscape ``D`` (see :func:`tabu`); returns ``(score, evaluations)``."""
    best = -np.inf
    evals = 0
    pos = 0
    run = 0  # start states used so far
    for r in range(restarts):
        share = budget // restarts + (1 if r < budget % restarts else 0)
        used = 0
        while used < share:  # one run, then a fresh one after `patience` iterations without a gain
            start_state(M, S, starts, run, x, rng)
            run += 1
            f = ls_reset(D, aux, x)
            evals += 1
            used += 1
            if f > best:
                best = f
                copy_into(best_x, x)
            pos = record(trace, marks, pos, evals, best)
            count = mv_count(M, S)
            if count == 0:
                break
            for i in range(until.shape[0]):
                until[i] = 0
            it = 0
            run_best = f
            last_gain = 0
            while used < share:
                best_d = -np.inf
                bi = -1
                bj = -1
                ties = 0
                any_d = -np.inf  # the best move, tabu or not
                ai = -1
                aj = -1
                for idx in range(count):
                    if used >= share:
                        break
                    i, j = mv_nth(M, S, idx)
                    d = ls_delta(D, aux, x, f, i, j)
                    evals += 1
                    used += 1
                    # a flip undoes a flip of the same bit; a swap or change undoes one that dropped j
                    tabu = until[i] > it if j < 0 else until[j] > it
                    if d > any_d:
                        any_d, ai, aj = d, i, j
                    if not tabu or improves(f + d - best, best):  # admissible (aspiration for a new best)
                        if d > best_d:
                            best_d, bi, bj = d, i, j
                            ties = 1
                        elif d == best_d:  # ties broken uniformly (reservoir sampling): plateaus don't trap it
                            ties += 1
                            if randint(rng, ties) == 0:
                                bi, bj = i, j
                    # the trace counts a move as found when it is evaluated (the best admissible is taken)
                    pos = record(trace, marks, pos, evals, max(best, f + best_d))
                if ai < 0:
                    break  # the budget ran out before a move was evaluated
                if bi < 0:  # every move is tabu: take the best anyway
                    best_d, bi, bj = any_d, ai, aj
                ls_commit(D, aux, x, bi, bj)
                mv_apply(M, S, bi, bj)
                f += best_d
                until[bi] = it + 1 + tenure  # bi: the bit flipped, or the item/value dropped
                it += 1
                if f > best:
                    best = f
                    copy_into(best_x, x)
                pos = record(trace, marks, pos, evals, best)
                if f > run_best:
                    run_best = f
                    last_gain = it
                elif it - last_gain >= patience:
                    break  # no gain for `patience` iterations: start afresh
    return ls_value(D, aux, best_x), evals


@kernel
@kernel_doc('One tabu search with restarts (:func:`tabu`).',
           'score, evaluations : float, int\nThe exact value of ``best_x`` and the evaluations used.')
def _tabu(D, M, aux, S, x, best_x, until, budget, tenure, restarts, patience, starts, rng, marks, trace):
    return _tabu_run(D, M, aux, S, x, best_x, until, budget, tenure, restarts, patience, starts, rng, marks, trace)


@kernel
@kernel_doc(':func:`_tabu` on each landscape of ``BD`` (as :func:`~standin.search.anneal.anneal_batch`).')
def tabu_batch(BD, M, aux, S, S0, x, best_X, until, budget, tenure, restarts, patience, starts, rngs, marks,
                traces, scores, used):
    for b in range(best_X.shape[0]):
        reset_state(S, S0)
        scores[b], used[b] = _tabu_run(ls_nth(BD, b), M, aux, S, x, best_X[b], until, budget, tenure, restarts,
                                       patience, starts, rngs[b], marks, traces[b])


def default_patience(moves) -> int:
    """``max(50, 10 · free)`` iterations without a gain before a fresh start."""
    return int(max(50, 10 * int(moves.allowed.sum())))


def tabu(landscape, moves, budget, rng, marks, trace, starts, *, tenure=None, restarts=1, patience=None):
    """Tabu search; returns ``(encoding, score, evaluations)``.

    Args:
        tenure: iterations a changed bit stays tabu (default :func:`default_tenure`).
        restarts: independent runs that split the budget.
        patience: iterations without a new best of the current run before it starts afresh from the
            next start state (default :func:`default_patience`): short tenures can cycle.
    """
    patience = default_patience(moves) if patience is None else patience
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError(f"tabu: patience must be a positive integer, got {patience!r}")
    tenure = default_tenure(moves) if tenure is None else tenure
    if isinstance(tenure, bool) or not isinstance(tenure, (int, np.integer)) or tenure < 0:
        raise ValueError(f"tabu: tenure must be a non-negative integer, got {tenure!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, (int, np.integer)) or not 1 <= restarts <= budget:
        raise ValueError(f"tabu: restarts must be an integer in 1..budget ({budget}), got {restarts!r}")
    x, best_x = buffers(moves)
    until = np.zeros(moves.m, dtype=np.int64)
    D, aux, key = kernel_args(landscape)
    score, evals = _tabu.keyed(
        key, D, moves, aux, move_state(moves), x, best_x, until,
        budget, int(tenure), int(restarts), int(patience), starts, rng, marks, trace,
    )
    return best_x, score, evals
