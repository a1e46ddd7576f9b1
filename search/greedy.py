"""Hill climbing with random restarts: first- or best-improvement over single moves.

From a start state, ``first`` improvement scans the neighbourhood cyclically from a random move
and takes the first move that improves; ``best`` improvement evaluates the whole neighbourhood and
takes the best move if it improves. At a local optimum (a full neighbourhood without improvement)
the search restarts from the next start state (``init``, proposal samples, or uniform), until the
budget is spent.
"""

from __future__ import annotations

import numpy as np

from standin.search._jit import jitable, kernel, randint
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
def _greedy(D, M, aux, S, x, best_x, budget, first, starts, rng, marks, trace):
    """One hill climb with restarts (:func:`greedy`).

    Parameters
    ----------
    D : namedtuple
        The landscape's kernel data (``kernel_data()``: ``DenseData``, ``SparseData``, ``LowRankData``,
        ``MLPData`` or an Objective's ``ObjData``).
    M : Moves
        The move set (:data:`standin.search.spaces.Moves`: kind, ``m``, ``k``, allowed bits, offsets).
    aux : tuple of float64 arrays
        The landscape's buffers (``kernel_aux()``): its incremental state and scratch.
    S : MoveState
        The move state (:data:`standin.search.moves.MoveState`), written as the search moves.
    x : int8 array (m,)
        The current state (scratch).
    best_x : int8 array (m,)
        Out: the best state found.
    budget : int
        Landscape evaluations allowed (a full evaluation or a move delta each).
    first : bool
        Take the first improving move (else the best one).
    starts : int8 array (R, m)
        Start states, restart ``r`` from row ``r mod R``; ``R = 0``: uniformly random states.
    rng : uint64 array (4,)
        The xoshiro256** generator's state (advanced in place).
    marks : int64 array (T,)
        The evaluation counts at which the trace records the best score (``trace.checkpoints``).
    trace : float64 array (T,)
        Out: the best score at each mark reached (NaN beyond).

    Returns
    -------
    score, evaluations : float, int
        The exact value of ``best_x`` and the evaluations used.
    """
    return _greedy_run(D, M, aux, S, x, best_x, budget, first, starts, rng, marks, trace)


@kernel
def greedy_batch(BD, M, aux, S, S0, x, best_X, budget, first, starts, rngs, marks, traces, scores, used):
    """:func:`_greedy` on each landscape of ``BD`` (as :func:`~standin.search.anneal.anneal_batch`).

    Parameters
    ----------
    BD : namedtuple
        The stacked kernel data of ``B`` landscapes of one form (``DenseBatch``, ``SparseBatch``,
        ``LowRankBatch``, ``MLPBatch``); ``ls_nth(BD, b)`` is landscape ``b``'s.
    M : Moves
        The move set (:data:`standin.search.spaces.Moves`: kind, ``m``, ``k``, allowed bits, offsets).
    aux : tuple of float64 arrays
        The landscape's buffers (``kernel_aux()``): its incremental state and scratch.
    S : MoveState
        The move state (:data:`standin.search.moves.MoveState`), written as the search moves.
    S0 : MoveState
        A fresh move state, copied into ``S`` before each landscape's search.
    x : int8 array (m,)
        The current state (scratch).
    best_X : int8 array (B, m)
        Out: each landscape's best state.
    budget : int
        Landscape evaluations allowed (a full evaluation or a move delta each).
    first : bool
        Take the first improving move (else the best one).
    starts : int8 array (R, m)
        Start states, restart ``r`` from row ``r mod R``; ``R = 0``: uniformly random states.
    rngs : uint64 array (B, 4)
        One generator per landscape.
    marks : int64 array (T,)
        The evaluation counts at which the trace records the best score (``trace.checkpoints``).
    traces : float64 array (B, T)
        Out: each landscape's trace.
    scores : float64 array (B,)
        Out: each landscape's best score.
    used : int64 array (B,)
        Out: each landscape's evaluations.
    """
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
