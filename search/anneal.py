"""Simulated annealing: single moves, a geometric temperature schedule, restarts.

The temperature range comes from the changes a run will meet. Before annealing, a short random walk
of accepted moves from a random feasible state (at most 200 moves, a tenth of the budget; its
evaluations count) records the size of each single-move change ``|Δ|``. At the hot end the largest
change seen is accepted with probability 1/2, so every move the run meets at a random state is
accepted often; at the cold end the 10th percentile of the nonzero changes is accepted with
probability 1/100, so the run ends greedy. The rule is the same for every landscape form and move
set. Bounds from the coefficients (the largest possible change ``|h_i| + 2Σ_j|J_ij|``, the changes at
the all-zeros and all-ones states) are kept only for budgets too small for a walk: they add up terms
that cancel at a typical state and start the run far too hot (12× on a sparse max-cut graph with unit
weights), and the corner states can be far from where a run goes (there its cold end was 15× too hot,
and the run never became greedy: 10% below the same sweeps with the measured range).
"""

from __future__ import annotations

import math

import numpy as np

from standin.search.jit import jitable, kernel, kernel_doc, njit, uniform
from standin.search.landscapes import Quadratic, kernel_args, ls_commit, ls_delta, ls_nth, ls_reset, ls_value
from standin.search.moves import (
    buffers,
    copy_into,
    move_state,
    mv_apply,
    mv_count,
    mv_nth,
    mv_random,
    reset_state,
    start_state,
)
from standin.search.spaces import FLIP
from standin.search.trace import next_mark, record

#: ``exp(−37) < 2⁻⁵³``, below the resolution of :func:`search.jit.uniform`: a move that much worse
#: than the temperature is rejected without drawing a number (the outcome would be the same).
_REJECT = 37.0


#: The temperature walk's length: at most this many moves ...
WALK_STEPS = 200
#: ... and at most this fraction of the budget (what is left after each restart's first state).
WALK_SHARE = 10


def walk_steps(budget: int, restarts: int = 1) -> int:
    """Moves of the walk that sizes the temperature range for ``budget`` evaluations (0: no walk)."""
    return min(WALK_STEPS, max(0, (budget - restarts) // WALK_SHARE))


def temperature_range(landscape, moves=None) -> tuple[float, float]:
    """``(t_hot, t_cold)`` of a :class:`~search.Quadratic` from bounds on its coefficients: the
    fallback for budgets too small for a walk (see module doc).

    The hot end accepts the largest possible change (``|h_i| + 2Σ_j|J_ij|``, and the two largest under
    a two-bit move set) with probability 1/2, the cold end the smallest change at the all-zeros and
    all-ones states with probability 1/100.
    """
    m = landscape.m
    allowed = np.ones(m, dtype=np.int8) if moves is None else moves.allowed
    pair = moves is not None and moves.kind != FLIP
    if landscape.J is not None and landscape.U is None:  # (a sparse J is stored as sparse, not J)
        top1, top2, small = _dense_scale(landscape.h, landscape.J, allowed, pair)
    elif landscape.J is None and landscape.U is not None:
        top1, top2, small = _low_rank_scale(landscape.h, landscape.U, landscape.sigma, allowed, pair)
    else:
        bounds = landscape.flip_bounds()[allowed != 0]
        corner = np.abs(landscape.corner_deltas())[:, allowed != 0]
        top = np.sort(bounds)[::-1]
        top1 = float(top[0]) if top.size else 0.0
        top2 = float(top[1]) if pair and top.size > 1 else 0.0
        corner = corner[corner > 1e-12 * max((top1 + top2) / math.log(2.0), 1e-300)]
        small = float(corner.min()) if corner.size else 0.0
    hot = (top1 + top2) / math.log(2.0)
    if hot <= 0.0 or small <= 0.0:  # a constant landscape: any positive range will do
        return 1.0, 1e-3
    return hot, min(small / math.log(100.0), hot)


@njit
def _dense_scale(h, J, allowed, pair):
    """For a dense quadratic: the largest single-flip bound (and the second largest when moves
    change two bits), and the smallest nonzero corner delta, in one O(m²) pass without temporaries."""
    m = h.shape[0]
    top1 = 0.0
    top2 = 0.0
    for i in range(m):
        if allowed[i]:
            b = 0.0
            for j in range(m):
                b += abs(J[i, j])
            b = abs(h[i]) + 2.0 * b
            if b > top1:
                top2 = top1
                top1 = b
            elif b > top2:
                top2 = b
    if not pair:
        top2 = 0.0
    floor = 1e-12 * max((top1 + top2) / math.log(2.0), 1e-300)
    small = np.inf
    for i in range(m):
        if allowed[i]:
            row = 0.0
            for j in range(m):
                row += J[i, j]
            for corner in (abs(h[i]), abs(h[i] + 2.0 * row)):
                if floor < corner < small:
                    small = corner
    return top1, top2, (small if small < np.inf else 0.0)


@njit
def _low_rank_scale(h, U, sigma, allowed, pair):
    """``_dense_scale`` for a low-rank quadratic, in two passes over ``U`` without temporaries: the
    bounds of ``Quadratic.flip_bounds`` and the corner deltas of ``Quadratic.corner_deltas``."""
    m, r = U.shape
    reach = np.zeros(r)  # max |U[:, k]·x| over binary x
    ones = np.zeros(r)  # U[:, k]·1
    for i in range(m):
        for k in range(r):
            reach[k] += abs(U[i, k])
            ones[k] += U[i, k]
    top1 = 0.0
    top2 = 0.0
    corners = np.empty(2 * m)
    count = 0
    for i in range(m):
        if allowed[i]:
            b = abs(h[i])
            q = 0.0
            s = 0.0
            for k in range(r):
                u = U[i, k]
                b += abs(u) * abs(sigma[k]) * 2.0 * reach[k] + u * u * abs(sigma[k])
                q += u * u * sigma[k]
                s += u * sigma[k] * ones[k]
            if b > top1:
                top2 = top1
                top1 = b
            elif b > top2:
                top2 = b
            corners[count] = abs(h[i] + q)  # the flip of bit i at x = 0
            corners[count + 1] = abs(h[i] + 2.0 * s - q)  # ... and at x = 1
            count += 2
    if not pair:
        top2 = 0.0
    floor = 1e-12 * max((top1 + top2) / math.log(2.0), 1e-300)
    small = np.inf
    for c in range(count):
        if floor < corners[c] < small:
            small = corners[c]
    return top1, top2, (small if small < np.inf else 0.0)


@jitable
def _walk(D, M, aux, S, x, no_starts, rng, out):
    """Write into ``out`` the |changes| seen on a random walk of accepted moves from a random state;
    returns how many were written (0 when no move exists)."""
    start_state(M, S, no_starts, 0, x, rng)
    f = ls_reset(D, aux, x)
    if mv_count(M, S) == 0:
        return 0
    for t in range(out.shape[0]):
        i, j = mv_random(M, S, rng)
        d = ls_delta(D, aux, x, f, i, j)
        out[t] = abs(d)
        ls_commit(D, aux, x, i, j)
        mv_apply(M, S, i, j)
        f += d
    return out.shape[0]


@jitable
def _select(a, count, k):
    """The ``k``-th smallest (0-based) of ``a[:count]``, by quickselect in place (deterministic
    middle pivots; ``a[:count]`` is reordered, ``a[k + 1:count]`` then holds the larger ones)."""
    lo = 0
    hi = count - 1
    while lo < hi:
        pivot = a[(lo + hi) >> 1]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return a[k]


@jitable
def _range_from_changes(seen, count):
    """``(t_hot, t_cold)`` from the changes ``seen[:count]`` (see :func:`sampled_temperature_range`);
    reorders ``seen``."""
    top = 0.0
    for t in range(count):
        if seen[t] > top:
            top = seen[t]
    kept = 0
    for t in range(count):  # drop zero changes and rounding (below 1e-9 of the largest)
        if seen[t] > 1e-9 * top:
            seen[kept] = seen[t]
            kept += 1
    if kept == 0:
        return 1.0, 1e-3
    # the 10th percentile, interpolated linearly between order statistics (numpy's default)
    pos = 0.1 * (kept - 1)
    k = int(pos)
    low = _select(seen, kept, k)
    q = low
    if pos > k:
        high = seen[k + 1]
        for t in range(k + 2, kept):
            if seen[t] < high:
                high = seen[t]
        q = low + (high - low) * (pos - k)
    hot = top / math.log(2.0)
    cold = q / math.log(100.0)
    return hot, min(cold, hot)


@kernel
@kernel_doc("The temperature range from a random walk's changes (see :func:`sampled_temperature_range`).",
           't_hot, t_cold : float\nThe range the changes seen give.')
def _walk_range(D, M, aux, S, x, no_starts, rng, seen):
    count = _walk(D, M, aux, S, x, no_starts, rng, seen)
    return _range_from_changes(seen, count)


def sampled_temperature_range(landscape, moves, steps: int, rng) -> tuple[float, float]:
    """``(t_hot, t_cold)`` from the changes seen on a random walk of ``steps`` moves.

    The hot end takes the largest change seen, the cold end the 10th percentile of the nonzero
    ones (the minimum of a sample is too noisy to set the end of a schedule; changes below 10⁻⁹ of
    the largest are rounding, as when integer couplings cancel). :func:`anneal` runs the same walk
    inside its kernel.
    """
    x, _ = buffers(moves)
    no_starts = np.zeros((0, moves.m), dtype=np.int8)
    data, aux, S = landscape.kernel_data(), landscape.kernel_aux(), move_state(moves)
    hot, cold = _walk_range(data, moves, aux, S, x, no_starts, rng, np.zeros(steps))
    return float(hot), float(cold)


@jitable
def _anneal_run(D, M, aux, S, x, best_x, budget, restarts, t_hot, t_cold, sweep, starts, rng, marks, trace, evals,
                seen):
    """One annealing search of the landscape ``D`` (see :func:`anneal`); returns ``(score, evaluations)``."""
    if seen.shape[0] > 0:  # measure the temperature range first: a walk of seen.shape[0] moves
        t_hot, t_cold = _range_from_changes(seen, _walk(D, M, aux, S, x, starts[:0], rng, seen))
        evals += seen.shape[0] + 1
    best = -np.inf
    pos = 0
    total = budget - evals
    for r in range(restarts):
        # split the budget evenly; the first `total % restarts` restarts get one more evaluation
        share = total // restarts + (1 if r < total % restarts else 0)
        start_state(M, S, starts, r, x, rng)
        f = ls_reset(D, aux, x)
        evals += 1
        at_best = f > best
        if at_best:
            best = f
        pos = record(trace, marks, pos, evals, best)
        steps = share - 1
        count = mv_count(M, S)
        if steps > 0 and count > 0:
            beta = 1.0 / t_hot  # the inverse temperature: a product per proposal, not a division
            factor = (t_hot / t_cold) ** (1.0 / (steps - 1)) if steps > 1 else 1.0
            idx = -1
            nxt = next_mark(marks, pos)
            for _ in range(steps):
                if sweep:
                    idx += 1
                    if idx == count:
                        idx = 0
                    i, j = mv_nth(M, S, idx)
                else:
                    i, j = mv_random(M, S, rng)
                d = ls_delta(D, aux, x, f, i, j)
                if d >= 0.0 or (d * beta > -_REJECT and uniform(rng) < math.exp(d * beta)):
                    if at_best and d < 0.0:  # leaving the best state: keep a copy (lazily, once)
                        copy_into(best_x, x)
                        at_best = False
                    ls_commit(D, aux, x, i, j)
                    mv_apply(M, S, i, j)
                    f += d
                    if f > best:
                        best = f
                        at_best = True
                evals += 1
                if evals >= nxt:
                    pos = record(trace, marks, pos, evals, best)
                    nxt = next_mark(marks, pos)
                beta *= factor
        if at_best:
            copy_into(best_x, x)
    # the running sum drifts by rounding; report the exact value of the best action
    return ls_value(D, aux, best_x), evals


@kernel
@kernel_doc('One simulated annealing search (:func:`anneal`): the temperature walk (when ``seen`` is not empty), '
           'then ``restarts`` geometric schedules from ``t_hot`` down to ``t_cold``.',
           'score, evaluations : float, int\nThe exact value of ``best_x`` and the evaluations used.')
def _anneal(D, M, aux, S, x, best_x, budget, restarts, t_hot, t_cold, sweep, starts, rng, marks, trace, evals,
            seen):
    return _anneal_run(D, M, aux, S, x, best_x, budget, restarts, t_hot, t_cold, sweep, starts, rng, marks, trace,
                       evals, seen)


@kernel
@kernel_doc(':func:`_anneal` on each landscape of ``BD``, as separate calls would run it: the move state restarts'
           ' from ``S0`` and landscape ``b`` draws from ``rngs[b]``.')
def anneal_batch(BD, M, aux, S, S0, x, best_X, budget, restarts, t_hot, t_cold, sweep, starts, rngs, marks,
                  traces, evals, seen, scores, used):
    """:func:`_anneal_run` on each landscape of the stacked data ``BD``, as separate calls would run it:
    the move state restarts from ``S0`` and landscape ``b`` draws from ``rngs[b]``."""
    for b in range(best_X.shape[0]):
        reset_state(S, S0)
        scores[b], used[b] = _anneal_run(ls_nth(BD, b), M, aux, S, x, best_X[b], budget, restarts, t_hot, t_cold,
                                         sweep, starts, rngs[b], marks, traces[b], evals, seen)


ORDERS = ("sweep", "random")
NO_WALK = np.zeros(0)


def anneal(landscape, moves, budget, rng, marks, trace, starts, *, restarts=1, t_hot=None, t_cold=None, order=None):
    """Simulated annealing; returns ``(encoding, score, evaluations)``.

    Args:
        restarts: independent runs that split the budget; each starts from the next row of
            ``starts`` (``init`` or proposal samples) or at random.
        t_hot, t_cold: temperature range; measured on a short walk when not given (module doc).
        order: ``"sweep"`` proposes the moves in a fixed cyclic order (the usual order for bit
            flips, and the default for them), ``"random"`` draws each move uniformly (the default
            for swaps and component changes).
    """
    order = ("sweep" if moves.kind == FLIP else "random") if order is None else order
    if order not in ORDERS:
        raise ValueError(f"anneal: order must be one of {ORDERS}, got {order!r}")
    if not (type(restarts) is int or isinstance(restarts, np.integer)) or not 1 <= restarts <= budget:
        raise ValueError(f"anneal: restarts must be an integer in 1..budget ({budget}), got {restarts!r}")
    steps = walk_steps(budget, restarts) if t_hot is None or t_cold is None else 0
    if steps and t_hot is None and t_cold is None:  # the kernel walks first (its evaluations count)
        seen, used, t_hot, t_cold = np.empty(steps), 0, 1.0, 1.0
    else:
        seen, used = NO_WALK, 0
        if t_hot is None or t_cold is None:
            if steps:  # a short random walk measures the changes the run will meet
                auto_hot, auto_cold = sampled_temperature_range(landscape, moves, steps, rng)
                used = steps + 1
            elif isinstance(landscape, Quadratic):
                auto_hot, auto_cold = temperature_range(landscape, moves)
            else:
                auto_hot, auto_cold = 1.0, 1e-3
            t_hot = auto_hot if t_hot is None else float(t_hot)
            t_cold = min(auto_cold, t_hot) if t_cold is None else float(t_cold)
        t_hot, t_cold = float(t_hot), float(t_cold)
        if not (t_hot > 0 and t_cold > 0 and t_cold <= t_hot):
            raise ValueError(f"anneal: need 0 < t_cold <= t_hot, got t_hot={t_hot}, t_cold={t_cold}")
    x, best_x = buffers(moves)
    D, aux, key = kernel_args(landscape)
    score, evals = _anneal.keyed(
        key, D, moves, aux, move_state(moves), x, best_x,
        budget, int(restarts), t_hot, t_cold, order == "sweep", starts, rng, marks, trace, used, seen,
    )
    return best_x, score, evals
