"""search.exact: the MILP optimum of a binary quadratic against brute-force enumeration."""

from __future__ import annotations

import sys
from itertools import pairwise

import numpy as np
import pytest

pytest.importorskip("highspy")

from standin.search.exact import ExactSolution, solve_quadratic  # noqa: E402
from standin.search.spaces import Binary, Discrete, KOfN, Moves  # noqa: E402

CHUNK = 1 << 15


def canonical_problem(seed: int, m: int):
    """Gaussian ``(c, h, J)`` with ``J`` symmetric, zero diagonal: ``(float, (m,), (m, m))``."""
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(m, m))
    J = 0.5 * (J + J.T)
    np.fill_diagonal(J, 0.0)
    return float(rng.normal()), rng.normal(size=m), J


def random_mask(seed: int, m: int, ensure=()) -> np.ndarray:
    """A random 0/1 mask ``(m,)`` about half set, with the positions in ``ensure`` set."""
    mask = (np.random.default_rng(seed + 1000).random(m) < 0.5).astype(np.int8)
    mask[list(ensure)] = 1
    return mask


def feasible_rows(X: np.ndarray, moves: Moves) -> np.ndarray:
    """Which rows of the 0/1 matrix ``X`` ``(N, m)`` satisfy ``moves``: bool ``(N,)``."""
    ok = ~(X[:, moves.allowed == 0] != 0).any(axis=1)
    if moves.kind == KOfN.kind:
        ok &= X.sum(axis=1) == moves.k
    elif moves.kind == Discrete.kind:
        off = moves.offsets
        for s, e in pairwise(off):
            ok &= X[:, s:e].sum(axis=1) == 1
    return ok


def brute_force(c, h, J, moves: Moves) -> float:
    """``max f`` over every feasible ``x ∈ {0,1}^m``, enumerated in chunks of ``CHUNK`` vectors."""
    m = moves.m
    best = -np.inf
    bits = np.arange(m, dtype=np.int64)
    for lo in range(0, 1 << m, CHUNK):
        codes = np.arange(lo, min(lo + CHUNK, 1 << m), dtype=np.int64)
        X = ((codes[:, None] >> bits) & 1).astype(np.float64)
        X = X[feasible_rows(X, moves)]
        if len(X):
            f = c + X @ h + np.einsum("ni,ni->n", X @ J, X)
            best = max(best, float(f.max()))
    return best


def f_value(c, h, J, x) -> float:
    xf = np.asarray(x, dtype=np.float64)
    return float(c + h @ xf + xf @ J @ xf)


def check_against_brute_force(seed: int, space, mask=None) -> ExactSolution:
    moves = space.moves(mask)
    c, h, J = canonical_problem(seed, moves.m)
    sol = solve_quadratic(c, h, J, moves, time_limit=30.0)
    expected = brute_force(c, h, J, moves)
    assert sol.proven
    assert sol.x.dtype == np.int8 and sol.x.shape == (moves.m,)
    assert feasible_rows(sol.x[None, :], moves)[0]
    assert space.feasible(sol.x, moves.allowed)
    assert sol.value == pytest.approx(f_value(c, h, J, sol.x), rel=1e-12, abs=1e-12)
    assert sol.value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert sol.gap == 0.0 and sol.bound >= sol.value
    assert sol.bound == pytest.approx(sol.value, rel=1e-6, abs=1e-6)
    assert sol.solver == "highs" and sol.seconds >= 0.0
    return sol


# ----------------------------------------------------------------------------- against brute force


@pytest.mark.parametrize("m", [1, 2, 5, 9, 12])
@pytest.mark.parametrize("masked", [False, True])
def test_flip_matches_brute_force(m, masked):
    mask = random_mask(m, m) if masked else None
    check_against_brute_force(m, Binary(m), mask)


def test_flip_all_masked_gives_zero():
    sol = check_against_brute_force(3, Binary(4), np.zeros(4, dtype=np.int8))
    assert not sol.x.any()


@pytest.mark.parametrize("m, k", [(1, 0), (1, 1), (2, 1), (6, 0), (6, 6), (8, 3), (12, 5)])
@pytest.mark.parametrize("masked", [False, True])
def test_swap_matches_brute_force(m, k, masked):
    mask = random_mask(10 * m + k, m, ensure=range(k)) if masked else None
    check_against_brute_force(10 * m + k, KOfN(m, k), mask)


@pytest.mark.parametrize("nvec", [(1,), (2,), (3, 2, 4), (5, 1, 3), (2, 2, 2, 2, 2, 2)])
@pytest.mark.parametrize("masked", [False, True])
def test_change_matches_brute_force(nvec, masked):
    space = Discrete(nvec)
    mask = random_mask(space.m, space.m, ensure=space.offsets[:-1]) if masked else None
    check_against_brute_force(space.m, space, mask)


def test_flip_size_20_dense():
    check_against_brute_force(2020, Binary(20))


def test_integer_coefficients_with_ties():
    """Small integer coefficients make many optima tie; the value must still be the maximum."""
    rng = np.random.default_rng(7)
    m = 10
    J = rng.integers(-2, 3, size=(m, m)).astype(np.float64)
    J = np.triu(J, 1) + np.triu(J, 1).T
    h = rng.integers(-3, 4, size=m).astype(np.float64)
    moves = KOfN(m, 4).moves()
    sol = solve_quadratic(1.0, h, J, moves)
    assert sol.proven and sol.value == brute_force(1.0, h, J, moves)


def test_non_canonical_J_is_read_as_the_same_f():
    """An asymmetric ``J`` with a diagonal defines ``f`` through ``xᵀJx`` as given."""
    rng = np.random.default_rng(3)
    m = 8
    c, h, J = float(rng.normal()), rng.normal(size=m), rng.normal(size=(m, m))
    moves = Discrete((4, 4)).moves()
    sol = solve_quadratic(c, h, J, moves)
    assert sol.proven
    assert sol.value == pytest.approx(f_value(c, h, J, sol.x), rel=1e-12)
    assert sol.value == pytest.approx(brute_force(c, h, J, moves), rel=1e-9)


def test_large_coefficients_scale_the_certificate():
    """The tolerances are relative to the largest coefficient, so a scaled problem has the scaled optimum."""
    moves = Binary(10).moves()
    c, h, J = canonical_problem(11, 10)
    small = solve_quadratic(c, h, J, moves)
    big = solve_quadratic(1e6 * c, 1e6 * h, 1e6 * J, moves)
    assert small.proven and big.proven
    assert big.value == pytest.approx(1e6 * small.value, rel=1e-9)
    assert big.value == pytest.approx(brute_force(1e6 * c, 1e6 * h, 1e6 * J, moves), rel=1e-9)


# ----------------------------------------------------------------------------- time limit


def test_time_limited_hard_instance_is_consistent():
    m = 120
    moves = Binary(m).moves()
    c, h, J = canonical_problem(120, m)
    sol = solve_quadratic(c, h, J, moves, time_limit=0.5)
    assert sol.x.dtype == np.int8 and sol.x.shape == (m,)
    assert set(np.unique(sol.x)) <= {0, 1}
    assert sol.value == pytest.approx(f_value(c, h, J, sol.x), rel=1e-12)
    assert np.isfinite(sol.bound) and sol.bound >= sol.value - 1e-6
    assert sol.gap >= 0.0
    if sol.proven:
        assert sol.gap == 0.0
    else:
        assert sol.gap == pytest.approx(sol.bound - sol.value)
    assert sol.seconds < 10.0


def test_time_limited_swap_returns_a_feasible_encoding():
    m, k = 100, 30
    space = KOfN(m, k)
    moves = space.moves(random_mask(5, m, ensure=range(k)))
    c, h, J = canonical_problem(100, m)
    sol = solve_quadratic(c, h, J, moves, time_limit=0.2)
    assert space.feasible(sol.x, moves.allowed)
    assert sol.bound >= sol.value and sol.gap >= 0.0


def test_start_is_never_beaten_by_the_result():
    m = 100
    moves = Binary(m).moves()
    c, h, J = canonical_problem(101, m)
    start = (h > 0).astype(np.int8)
    sol = solve_quadratic(c, h, J, moves, time_limit=0.2, start=start)
    assert sol.value >= f_value(c, h, J, start)
    assert sol.bound >= sol.value and sol.gap >= 0.0


def test_start_does_not_change_a_proven_optimum():
    space = Discrete((3, 2, 4))
    moves = space.moves()
    c, h, J = canonical_problem(9, moves.m)
    sol = solve_quadratic(c, h, J, moves, start=space.encode(np.array([2, 1, 0])))
    assert sol.proven and sol.value == pytest.approx(brute_force(c, h, J, moves), rel=1e-9)


# ----------------------------------------------------------------------------- bad input


def test_rejects_shape_mismatch():
    moves = Binary(4).moves()
    c, h, J = canonical_problem(0, 4)
    with pytest.raises(ValueError, match="h must have shape"):
        solve_quadratic(c, h[:3], J, moves)
    with pytest.raises(ValueError, match="J must have shape"):
        solve_quadratic(c, h, J[:, :3], moves)


@pytest.mark.parametrize("where", ["c", "h", "J"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_rejects_non_finite(where, bad):
    c, h, J = canonical_problem(0, 4)
    if where == "c":
        c = bad
    elif where == "h":
        h[1] = bad
    else:
        J[0, 2] = J[2, 0] = bad
    with pytest.raises(ValueError, match="finite"):
        solve_quadratic(c, h, J, Binary(4).moves())


@pytest.mark.parametrize("limit", [0, -1.0, float("nan"), "1"])
def test_rejects_bad_time_limit(limit):
    c, h, J = canonical_problem(0, 4)
    with pytest.raises(ValueError, match="time_limit"):
        solve_quadratic(c, h, J, Binary(4).moves(), time_limit=limit)


def test_rejects_malformed_moves():
    c, h, J = canonical_problem(0, 4)
    good = KOfN(4, 2).moves()
    with pytest.raises(ValueError, match="allowed"):
        solve_quadratic(c, h, J, good._replace(allowed=np.ones(3, dtype=np.int8)))
    with pytest.raises(ValueError, match="mask allows 1"):
        solve_quadratic(c, h, J, good._replace(allowed=np.array([1, 0, 0, 0], dtype=np.int8)))
    change = Discrete((2, 2)).moves()
    with pytest.raises(ValueError, match="one-hot group 1"):
        solve_quadratic(c, h, J, change._replace(allowed=np.array([1, 1, 0, 0], dtype=np.int8)))
    with pytest.raises(ValueError, match="offsets"):
        solve_quadratic(c, h, J, change._replace(offsets=np.array([0, 3], dtype=np.int64)))
    with pytest.raises(ValueError, match="kind"):
        solve_quadratic(c, h, J, good._replace(kind=7))


def test_rejects_bad_start():
    c, h, J = canonical_problem(0, 4)
    moves = KOfN(4, 2).moves(np.array([1, 1, 1, 0]))
    with pytest.raises(ValueError, match="start must be a 0/1 vector"):
        solve_quadratic(c, h, J, moves, start=np.array([1, 1, 0]))
    with pytest.raises(ValueError, match="start must be a 0/1 vector"):
        solve_quadratic(c, h, J, moves, start=np.array([2, 0, 0, 0]))
    with pytest.raises(ValueError, match="start breaks"):
        solve_quadratic(c, h, J, moves, start=np.array([1, 0, 0, 1]))
    with pytest.raises(ValueError, match="start breaks"):
        solve_quadratic(c, h, J, moves, start=np.array([1, 1, 1, 0]))


def test_missing_highspy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "highspy", None)
    c, h, J = canonical_problem(0, 3)
    with pytest.raises(ImportError, match=r"standin\[exact\]"):
        solve_quadratic(c, h, J, Binary(3).moves())


def test_the_solver_banner_goes_to_python_stdout_not_the_terminal():
    """HiGHS prints a banner from C when a process creates its first solver; a trial redirects
    ``sys.stdout`` to its log, and the banner must land there, not on the terminal's descriptor."""
    import subprocess

    code = (
        "import contextlib, io, sys\n"
        "import numpy as np\n"
        "from search.exact import solve_quadratic\n"
        "from search.spaces import Binary\n"
        "log = io.StringIO()\n"
        "with contextlib.redirect_stdout(log):\n"
        "    sol = solve_quadratic(0.0, np.array([1.0, -1.0, 2.0]), np.zeros((3, 3)), Binary(3).moves())\n"
        "print('value', sol.value)\n"
        "print('log has banner', 'HiGHS' in log.getvalue())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).parents[1])).stdout
    assert "HiGHS" not in out
    assert "value 3.0" in out and "log has banner True" in out
