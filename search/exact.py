"""A certified optimum of a binary quadratic under the search's constraints, by mixed-integer programming.

:func:`solve_quadratic` maximises ``f(x) = c + h·x + xᵀJx`` over ``x ∈ {0,1}^m`` under a :class:`Moves`
(see :mod:`search.spaces`): masked bits stay 0, a k-of-N space keeps exactly ``k`` ones, a
``Discrete`` space keeps one bit per one-hot group. It gives a reference optimum to measure the
heuristic searches against, and says whether that optimum is proven.

Formulation
-----------
``xᵀJx = Σ_{i<j} q_ij x_i x_j`` with ``q_ij = 2 J_ij``. Each product with ``q_ij ≠ 0`` of two free
bits that can both be 1 gets a continuous ``y_ij ∈ [0, 1]`` and only the constraints that can bind
(see :func:`_pair_rows`), which makes the problem a mixed-integer linear program solved by HiGHS
(``highspy``, the optional extra ``standin[exact]``).

What "proven" certifies
-----------------------
The objective is divided by ``s``, the largest ``|h_i|`` or ``|q_ij|`` among free bits, before it
goes to HiGHS; the tolerances below are in those units, so they scale with the coefficients.
``proven`` is ``True`` when HiGHS reports the model optimal with ``mip_rel_gap = 0`` and
``mip_abs_gap = 1e-9``. That is a floating-point certificate, not an exact-arithmetic one:

- branch and bound discards a node whose relaxation bound exceeds the incumbent by less than
  ``mip_feasibility_tolerance`` (1e-6), so no feasible ``x`` beats ``value`` by more than about
  ``1e-6 · s`` (for integral coefficients HiGHS rounds bounds and this slack vanishes);
- the relaxations are solved to primal and dual feasibility tolerances of 1e-7;
- integrality is accepted to within 1e-6; the returned ``x`` is rounded to 0/1, checked feasible,
  and ``value`` is recomputed from ``(c, h, J)`` in float64, so ``value == f(x)`` holds for the ``x``
  returned whatever the solver's tolerances.

When the time limit stops the search, ``proven`` is ``False`` and ``bound`` is the solver's best
upper bound (or the trivial bound ``c + Σ max(h_i, 0) + Σ max(q_ij, 0)`` if that is lower, e.g. when
the root relaxation did not finish). A feasible ``x`` is always returned: the solver starts from the
caller's ``start`` or else a trivial feasible encoding (the first allowed bits), and the result is
never worse than that start.

``time_limit`` is HiGHS's: it is checked between stages of the solve, and some setup stages cannot
be interrupted. On a dense model these grow quickly with ``m`` (the model has ``m(m−1)/2`` products
and about as many rows again), so a short limit can be overrun by seconds at ``m`` in the hundreds.

HiGHS runs single-threaded. Its thread pool is process-wide: if another part of the process started
it with more threads, the solve runs on that pool instead (HiGHS refuses to change the count).
The banner HiGHS prints from C when a process creates its first solver goes to Python's
``sys.stdout`` (a benchmark trial's log), not to the terminal (:func:`_new_solver`).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from standin.search.spaces import CHANGE, FLIP, SWAP, Moves

#: HiGHS options set on every solve (objective in units of the largest coefficient).
_OPTIONS = {"output_flag": False, "threads": 1, "mip_rel_gap": 0.0, "mip_abs_gap": 1e-9}
_INSTALL_HINT = "solve_quadratic needs highspy: pip install 'standin[exact]'"


@dataclass(frozen=True)
class ExactSolution:
    """The result of :func:`solve_quadratic`.

    Attributes:
        x: the best encoding found, int8 ``(m,)`` of 0/1, feasible under the moves.
        value: ``f(x)`` recomputed from ``(c, h, J)`` in float64.
        proven: whether the solver proved ``x`` optimal within the time limit (to the tolerances in
            the module docstring).
        bound: an upper bound on the maximum, ``>= value``; equals ``value`` up to tolerance when proven.
        gap: ``bound - value`` (absolute, ``>= 0``); ``0.0`` when proven.
        seconds: wall time of the whole call, model building included.
        solver: the solver's name.
    """

    x: np.ndarray
    value: float
    proven: bool
    bound: float
    gap: float
    seconds: float
    solver: str


def solve_quadratic(
    c: float, h: np.ndarray, J: np.ndarray, moves: Moves, *, time_limit: float = 60.0, start: np.ndarray | None = None
) -> ExactSolution:
    """Maximise ``f(x) = c + h·x + xᵀJx`` over the feasible encodings of ``moves``.

    Args:
        c: the constant term.
        h: linear coefficients, float ``(m,)``.
        J: pairwise coefficients, float ``(m, m)``; expected symmetric with a zero diagonal. Any
            other ``J`` is read as the same ``f``: it is symmetrised and its diagonal moved into
            ``h`` (``x_i² = x_i``).
        moves: the move set of a space (``space.moves(mask)``): which bits may be 1, and for
            ``SWAP`` the number of ones, for ``CHANGE`` the one-hot groups.
        time_limit: seconds the solver may run (``math.inf`` for none), > 0. HiGHS checks it
            between stages, so a large model can overrun it (see the module docstring).
        start: a feasible encoding to start from, 0/1 ``(m,)``, e.g. the best a heuristic search
            found; the result is then at least as good. Default: a trivial feasible encoding.

    Returns:
        An :class:`ExactSolution`; see the module docstring for what ``proven`` certifies.

    Raises:
        ImportError: highspy is not installed.
        ValueError: inconsistent shapes, non-finite coefficients, an infeasible or malformed
            ``moves``, or a non-positive ``time_limit``.
        RuntimeError: HiGHS failed, or returned a solution that does not round to a feasible one.
    """
    t0 = time.perf_counter()
    c, h, J = _check_inputs(c, h, J, moves, time_limit)
    x0 = _trivial_start(moves) if start is None else _check_start(start, moves)
    try:
        import highspy
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err

    h_eff, J_sym = _canonical(h, J)
    allowed = np.asarray(moves.allowed) != 0
    i, j, q = _pairs(J_sym, moves)
    scale = _scale(h_eff[allowed], q)
    solver = _new_solver(highspy)
    for name, option in _OPTIONS.items():
        solver.setOptionValue(name, option)
    solver.setOptionValue("time_limit", float(time_limit))
    solver.passModel(_build_lp(highspy, h_eff / scale, i, j, q / scale, moves))
    solver.setSolution(_start_solution(highspy, x0, i, j))
    _run(solver, highspy)

    proven, x, dual_bound = _read_result(solver, highspy, moves, x0)
    value = _quad_value(c, h, J, x)
    if not proven and _quad_value(c, h, J, x0) > value:  # the solver's tolerances may accept a hair-worse x
        x, value = x0, _quad_value(c, h, J, x0)
    # the trivial bound: every positive term at once
    bound = c + float(np.maximum(h_eff[allowed], 0.0).sum() + np.maximum(q, 0.0).sum())
    if dual_bound is not None:
        bound = min(bound, c + scale * dual_bound)
    bound = max(bound, value)  # a relaxation bound may sit below a feasible value by the tolerances
    gap = 0.0 if proven else bound - value
    return ExactSolution(x, value, proven, bound, gap, time.perf_counter() - t0, "highs")


# ----------------------------------------------------------------------------- inputs


def _check_inputs(c, h, J, moves, time_limit):
    """Validate shapes, finiteness, ``moves`` and ``time_limit``; returns ``(c, h, J)`` as float64."""
    m = _check_moves(moves)
    h = np.asarray(h, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    if h.shape != (m,):
        raise ValueError(f"solve_quadratic: h must have shape ({m},) to match moves.m, got {h.shape}")
    if J.shape != (m, m):
        raise ValueError(f"solve_quadratic: J must have shape ({m}, {m}) to match moves.m, got {J.shape}")
    c = float(c)
    if not (math.isfinite(c) and np.isfinite(h).all() and np.isfinite(J).all()):
        raise ValueError("solve_quadratic: c, h and J must be finite (found NaN or inf)")
    if not (isinstance(time_limit, (int, float, np.integer, np.floating)) and time_limit > 0):
        raise ValueError(f"solve_quadratic: time_limit must be a positive number of seconds, got {time_limit!r}")
    return c, h, J


def _check_moves(moves) -> int:
    """Check that ``moves`` is well formed and has a feasible encoding; returns ``m``."""
    m = int(moves.m)
    allowed = np.asarray(moves.allowed)
    if m < 1 or allowed.shape != (m,) or not np.isin(allowed, (0, 1)).all():
        raise ValueError(f"solve_quadratic: moves.allowed must be 0/1 of shape ({m},), got shape {allowed.shape}")
    if moves.kind == SWAP:
        if not 0 <= moves.k <= int(allowed.sum()):
            raise ValueError(f"solve_quadratic: k = {moves.k} ones, but the mask allows {int(allowed.sum())} bits")
    elif moves.kind == CHANGE:
        off = np.asarray(moves.offsets)
        if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != m or (np.diff(off) < 1).any():
            raise ValueError(f"solve_quadratic: moves.offsets must rise strictly from 0 to {m}, got {off.tolist()}")
        for g, (s, e) in enumerate(pairwise(off)):
            if not allowed[s:e].any():
                raise ValueError(f"solve_quadratic: the mask allows no bit in one-hot group {g}")
    elif moves.kind != FLIP:
        raise ValueError(f"solve_quadratic: moves.kind must be FLIP, SWAP or CHANGE, got {moves.kind!r}")
    return m


def _check_start(start, moves) -> np.ndarray:
    """``start`` as int8 ``(m,)``, checked to be a feasible 0/1 encoding under ``moves``."""
    x = np.asarray(start)
    if x.shape != (moves.m,) or not np.isin(x, (0, 1)).all():
        raise ValueError(f"solve_quadratic: start must be a 0/1 vector of shape ({moves.m},), got shape {x.shape}")
    x = x.astype(np.int8)
    if not _feasible(x, moves):
        raise ValueError("solve_quadratic: start breaks the mask or the count constraints of moves")
    return x


def _canonical(h, J):
    """The same ``f`` with ``J`` symmetric and zero-diagonal: ``(h + diag J, (J + Jᵀ)/2 off-diagonal)``."""
    J_sym = 0.5 * (J + J.T)
    h_eff = h + np.diagonal(J_sym)
    np.fill_diagonal(J_sym, 0.0)
    return h_eff, J_sym


def _pairs(J, moves):
    """The products to linearise: pairs ``i < j`` of allowed bits that can both be 1, with ``q = 2 J_ij ≠ 0``.

    Two bits of one one-hot group (``CHANGE``), or any two bits when at most one is set (``SWAP``
    with ``k ≤ 1``), are never both 1, so their product is 0 and they are left out.

    Returns:
        ``(i, j, q)``: int64 ``(P,)``, int64 ``(P,)``, float64 ``(P,)``.
    """
    free = np.flatnonzero(np.asarray(moves.allowed) != 0)
    if moves.kind == SWAP and moves.k < 2:
        free = free[:0]
    a, b = np.triu_indices(len(free), 1)
    i, j = free[a], free[b]
    keep = J[i, j] != 0.0
    if moves.kind == CHANGE:
        group = np.repeat(np.arange(len(moves.offsets) - 1), np.diff(moves.offsets))
        keep &= group[i] != group[j]
    return i[keep], j[keep], 2.0 * J[i[keep], j[keep]]


def _scale(h, q) -> float:
    """The largest coefficient magnitude, the unit the solver's tolerances are measured in (1 if all are 0)."""
    top = max(float(np.abs(h).max(initial=0.0)), float(np.abs(q).max(initial=0.0)))
    return top if top > 0 else 1.0


def _trivial_start(moves) -> np.ndarray:
    """A feasible encoding: all 0 (FLIP), the first ``k`` allowed bits (SWAP), the first allowed bit per group."""
    allowed = np.asarray(moves.allowed) != 0
    x = np.zeros(moves.m, dtype=np.int8)
    if moves.kind == SWAP:
        x[np.flatnonzero(allowed)[: moves.k]] = 1
    elif moves.kind == CHANGE:
        for s, e in pairwise(moves.offsets):
            x[s + int(np.argmax(allowed[s:e]))] = 1
    return x


# ----------------------------------------------------------------------------- model


def _build_lp(highspy, h, i, j, q, moves):
    """The MILP over columns ``[x (m,), y (P,)]``, maximising ``h·x + q·y``, as a ``HighsLp``."""
    m, P = moves.m, len(q)
    rows, cols, vals, row_lo, row_hi = _append_rows(_pair_rows(i, j, q, m), _count_rows(moves))
    lp = highspy.HighsLp()
    lp.num_col_ = m + P
    lp.num_row_ = len(row_lo)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.concatenate([h, q])
    lp.col_lower_ = np.zeros(m + P)
    lp.col_upper_ = np.concatenate([(np.asarray(moves.allowed) != 0).astype(np.float64), np.ones(P)])
    lp.row_lower_ = row_lo
    lp.row_upper_ = row_hi
    lp.integrality_ = [highspy.HighsVarType.kInteger] * m + [highspy.HighsVarType.kContinuous] * P
    start, index, value = _colwise(rows, cols, vals, m + P)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    return lp


def _pair_rows(i, j, q, m):
    """Rows tying ``y_p`` (column ``m + p``) to ``x_i x_j``, as triplets and row bounds.

    For fixed binary ``x`` the solver sets each ``y_p`` as high as its rows allow when ``q_p > 0``
    and as low as they allow when ``q_p < 0``. So when ``q_p > 0`` the upper rows ``y ≤ x_i``,
    ``y ≤ x_j`` suffice: ``y = min(x_i, x_j) = x_i x_j`` at the optimum. When ``q_p < 0`` the lower
    row ``y ≥ x_i + x_j − 1`` with ``y ≥ 0`` suffices: ``y = max(0, x_i + x_j − 1) = x_i x_j``. The
    other rows never bind, so the MILP's optimum is ``max f`` and its optimal ``x`` maximise ``f``.

    Returns:
        ``(rows, cols, vals, row_lo, row_hi)``: the triplets, int64/int64/float64 ``(nnz,)``, and
        the bounds, float64 ``(R,)``.
    """
    p = np.arange(len(q))
    pos, neg = p[q > 0], p[q < 0]
    n_pos, n_neg = len(pos), len(neg)
    r_pos = np.arange(2 * n_pos)  # y - x_i <= 0, then y - x_j <= 0, for each positive pair
    r_neg = 2 * n_pos + np.arange(n_neg)  # x_i + x_j - y <= 1 for each negative pair
    rows = np.concatenate([r_pos, r_pos, r_neg, r_neg, r_neg])
    cols = np.concatenate([np.repeat(m + pos, 2), np.column_stack([i[pos], j[pos]]).ravel(), i[neg], j[neg], m + neg])
    vals = np.concatenate([np.ones(2 * n_pos), -np.ones(2 * n_pos), np.ones(2 * n_neg), -np.ones(n_neg)])
    row_lo = np.full(2 * n_pos + n_neg, -np.inf)
    row_hi = np.concatenate([np.zeros(2 * n_pos), np.ones(n_neg)])
    return rows, cols, vals, row_lo, row_hi


def _count_rows(moves):
    """Equality rows on the allowed bits: ``Σ x = k`` (SWAP) or ``Σ_group x = 1`` per group (CHANGE).

    Returns:
        ``(rows, cols, vals, rhs)``: triplets with rows numbered from 0, and float64 ``(R,)``.
    """
    allowed = np.asarray(moves.allowed) != 0
    if moves.kind == FLIP:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if moves.kind == SWAP:
        cols = np.flatnonzero(allowed)
        return np.zeros(len(cols), np.int64), cols, np.ones(len(cols)), np.array([float(moves.k)])
    offsets = np.asarray(moves.offsets)
    group = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    cols = np.flatnonzero(allowed)
    return group[cols], cols, np.ones(len(cols)), np.ones(len(offsets) - 1)


def _append_rows(block, equalities):
    """Append the equality rows ``equalities`` below the rows of ``block``."""
    rows, cols, vals, row_lo, row_hi = block
    e_rows, e_cols, e_vals, rhs = equalities  # rows numbered from 0
    return (
        np.concatenate([rows, len(row_lo) + e_rows]),
        np.concatenate([cols, e_cols]),
        np.concatenate([vals, e_vals]),
        np.concatenate([row_lo, rhs]),
        np.concatenate([row_hi, rhs]),
    )


def _colwise(rows, cols, vals, n_col):
    """Triplets to compressed sparse columns: ``(start (n_col + 1,), index (nnz,), value (nnz,))``."""
    order = np.lexsort((rows, cols))
    start = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_col))])
    return start.astype(np.int32), rows[order].astype(np.int32), vals[order].astype(np.float64)


def _start_solution(highspy, x, i, j):
    """The full MILP solution for the encoding ``x``: ``[x, y = x_i x_j]``."""
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate([x, x[i] * x[j]]).astype(np.float64).tolist()
    sol.value_valid = True
    return sol


# ----------------------------------------------------------------------------- solve


def _new_solver(highspy):
    """``highspy.Highs()``, whose C-level banner (printed on file descriptor 1 when a process creates
    its first solver, before any option can turn output off) is passed on to ``sys.stdout``."""
    with _c_stdout_to_python():
        return highspy.Highs()


@contextlib.contextmanager
def _c_stdout_to_python():
    """Capture what C code writes to file descriptor 1 and write it to ``sys.stdout`` afterwards
    (in a benchmark trial that is the trial's log; elsewhere it still reaches the terminal)."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    except (AttributeError, OSError, ValueError):  # no real stdout (e.g. some notebook kernels)
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        for stream in (sys.stdout, sys.__stdout__):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        saved = os.dup(fd)
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            if text:
                sys.stdout.write(text)


def _run(solver, highspy) -> None:
    """Run HiGHS; raise ``RuntimeError`` when it fails outright."""
    status = solver.run()
    if status == highspy.HighsStatus.kError and solver.getModelStatus() == highspy.HighsModelStatus.kNotset:
        # HiGHS's thread pool is process-wide and was started elsewhere with another thread count,
        # which HiGHS refuses to change; threads = 0 runs on the existing pool.
        solver.setOptionValue("threads", 0)
        status = solver.run()
    if status == highspy.HighsStatus.kError:
        raise RuntimeError(f"solve_quadratic: HiGHS failed ({solver.modelStatusToString(solver.getModelStatus())})")


def _read_result(solver, highspy, moves, x0):
    """``(proven, x, dual_bound)`` from a finished run; ``dual_bound`` in scaled units, or ``None``."""
    model_status = solver.getModelStatus()
    stopped = {
        highspy.HighsModelStatus.kTimeLimit,
        highspy.HighsModelStatus.kInterrupt,
        highspy.HighsModelStatus.kIterationLimit,
        highspy.HighsModelStatus.kSolutionLimit,
        highspy.HighsModelStatus.kMemoryLimit,
        highspy.HighsModelStatus.kUnknown,
    }
    proven = model_status == highspy.HighsModelStatus.kOptimal
    if not proven and model_status not in stopped:
        raise RuntimeError(f"solve_quadratic: HiGHS ended with status {solver.modelStatusToString(model_status)}")
    info = solver.getInfo()
    x = x0
    if int(info.primal_solution_status) == int(highspy.SolutionStatus.kSolutionStatusFeasible):
        x = _rounded(np.asarray(solver.getSolution().col_value[: moves.m]), moves)
    elif proven:
        raise RuntimeError("solve_quadratic: HiGHS reported an optimum but returned no solution")
    dual_bound = float(info.mip_dual_bound)
    return proven, x, (dual_bound if math.isfinite(dual_bound) else None)


def _rounded(x_raw, moves) -> np.ndarray:
    """Round the solver's ``x`` to 0/1 and check it is feasible under ``moves``."""
    x = np.clip(np.rint(x_raw), 0, 1).astype(np.int8)
    if np.abs(x_raw - x).max(initial=0.0) > 1e-3 or not _feasible(x, moves):
        raise RuntimeError("solve_quadratic: HiGHS's solution does not round to a feasible 0/1 encoding")
    return x


def _feasible(x, moves) -> bool:
    """Whether the 0/1 vector ``x`` satisfies the mask and the count constraints of ``moves``."""
    if (x[np.asarray(moves.allowed) == 0] != 0).any():
        return False
    if moves.kind == SWAP:
        return int(x.sum()) == moves.k
    if moves.kind == CHANGE:
        return bool((np.add.reduceat(x.astype(np.int64), np.asarray(moves.offsets)[:-1]) == 1).all())
    return True


def _quad_value(c, h, J, x) -> float:
    """``c + h·x + xᵀJx`` in float64."""
    xf = x.astype(np.float64)
    return float(c + h @ xf + xf @ J @ xf)


__all__ = ["ExactSolution", "solve_quadratic"]
