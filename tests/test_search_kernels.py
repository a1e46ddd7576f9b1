"""search's jitted building blocks against tests/naive.py: the landscapes' ``ls_*`` operations, the
move sets, and the xoshiro256** generator; also the numpy side of Quadratic and MLP.

These functions are only callable from jitted code: small ``numba.njit`` drivers below call them and
return plain arrays, which the tests compare with the slow references. The landscape and space
builders here (every landscape form, feasible masks) are shared with test_search.py.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from standin.search import MLP, Batch, Binary, Discrete, KOfN, Objective, Quadratic
from standin.search.anneal import _range_from_changes
from standin.search.jit import next_u64, randint, random_bits, rng_state, uniform
from standin.search.landscapes import DENSE_BUILD_MAX, ls_commit, ls_delta, ls_reset, ls_value
from standin.search.moves import (
    move_state,
    mv_apply,
    mv_count,
    mv_nth,
    mv_random,
    mv_random_state,
    mv_reset,
    start_state,
)
from tests import naive

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
COEF = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
REL = 1e-9  # relative tolerance, against the landscape's magnitude


# ================================================================== a jitted Objective for the tests
#
# A knapsack with a soft capacity: value = Σ v_i x_i − penalty · max(0, Σ w_i x_i − capacity),
# params = (w, v, [capacity, penalty]). The incremental state is aux = [Σ w_i x_i, Σ v_i x_i], so a
# move's delta costs O(1).


@numba.njit
def knapsack_value(x, params):
    w, v, cp = params
    load = 0.0
    gain = 0.0
    for i in range(x.shape[0]):
        if x[i]:
            load += w[i]
            gain += v[i]
    return gain - cp[1] * max(0.0, load - cp[0])


@numba.njit
def knapsack_init(x, aux, params):
    w, v, _ = params
    aux[0] = 0.0
    aux[1] = 0.0
    for i in range(x.shape[0]):
        if x[i]:
            aux[0] += w[i]
            aux[1] += v[i]


@numba.njit
def _knapsack_change(x, params, i, j):
    w, v, _ = params
    si = 1.0 - 2.0 * x[i]
    dw = si * w[i]
    dv = si * v[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        dw += sj * w[j]
        dv += sj * v[j]
    return dw, dv


@numba.njit
def knapsack_delta(x, aux, params, i, j):
    cp = params[2]
    dw, dv = _knapsack_change(x, params, i, j)
    before = aux[1] - cp[1] * max(0.0, aux[0] - cp[0])
    after = aux[1] + dv - cp[1] * max(0.0, aux[0] + dw - cp[0])
    return after - before


@numba.njit
def knapsack_update(x, aux, params, i, j):
    dw, dv = _knapsack_change(x, params, i, j)
    aux[0] += dw
    aux[1] += dv


# ================================================================== landscapes of every form

#: Every form a jitted landscape takes; "objective" has the incremental triple, "objective-plain" not.
FORMS = (
    "linear",
    "dense",
    "sparse",
    "low-rank",
    "dense+low-rank",
    "mlp1",
    "mlp2",
    "mlp3",
    "objective",
    "objective-plain",
)
QUADRATIC_FORMS = ("linear", "dense", "sparse", "low-rank", "dense+low-rank")


def make_landscape(form: str, m: int, seed: int, scale: float = 1.0):
    """A random landscape of ``form`` over ``m`` bits: ``(landscape, reference, magnitude)``.

    ``reference(x)`` is its value from tests/naive.py; ``magnitude`` bounds the size of every term,
    so ``REL * magnitude`` is a rounding tolerance.
    """
    rng = np.random.default_rng(seed)
    if form in QUADRATIC_FORMS or form == "batch":
        c, h = scale * rng.normal(), scale * rng.normal(size=m)
        J = U = sigma = None
        if form in ("dense", "dense+low-rank", "batch"):
            J = scale * rng.normal(size=(m, m))  # not symmetric, nonzero diagonal: stored canonically
        if form in ("low-rank", "dense+low-rank"):
            r = int(rng.integers(1, 4))
            U, sigma = rng.normal(size=(m, r)), scale * rng.normal(size=r)
        if form == "sparse":  # random entries, either triangle, some repeated, some bits uncoupled
            count = int(rng.integers(0, 2 * m + 1)) if m > 1 else 0
            rows = rng.integers(0, m, size=count)
            cols = (rows + rng.integers(1, m, size=count)) % max(m, 1) if m > 1 else rows
            values = scale * rng.normal(size=count)
            land = Quadratic.from_edges(c, h, rows, cols, values)
            J = np.zeros((m, m))
            np.add.at(J, (rows, cols), values)
        else:
            land = Quadratic(c, h, J, U=U, sigma=sigma)
        magnitude = 1.0 + abs(c) + np.abs(h).sum()
        if J is not None:
            magnitude += np.abs(J).sum()
        if U is not None:
            magnitude += np.abs(sigma) @ np.abs(U).sum(axis=0) ** 2
        if form == "batch":
            return Batch(land, m), (lambda x: naive.quadratic_value(c, h, J, x)), magnitude
        return land, (lambda x: naive.quadratic_value(c, h, J, x, U, sigma)), magnitude
    if form.startswith("mlp"):
        widths = [m] + [int(rng.integers(1, 6)) for _ in range(int(form[3:]) - 1)] + [1]
        weights = [scale * rng.normal(size=(o, i)) for i, o in zip(widths[:-1], widths[1:], strict=True)]
        biases = [scale * rng.normal(size=o) for o in widths[1:]]
        bound = np.ones(m)
        for W, b in zip(weights, biases, strict=True):
            bound = np.abs(W) @ bound + np.abs(b)
        land = MLP(weights, biases)
        return land, (lambda x: naive.mlp_value(weights, biases, x)), 1.0 + float(bound[0])
    w, v = rng.uniform(0.1, 1.0, size=m), scale * rng.normal(size=m)
    cap, penalty = 0.4 * w.sum(), 3.0 * scale
    params = (w, v, np.array([cap, penalty]))
    if form == "objective":
        land = Objective(
            knapsack_value, m, params, delta=knapsack_delta, update=knapsack_update, init=knapsack_init, aux_size=2
        )
    else:
        land = Objective(knapsack_value, m, params)
    magnitude = 1.0 + np.abs(v).sum() + penalty * w.sum()
    return land, (lambda x: naive.knapsack_value(w, v, cap, penalty, x)), magnitude


# ================================================================== spaces and masks


def repair_mask(space, mask, pick=0) -> np.ndarray:
    """``mask`` (encoding bits) with bits set back until every constraint can be met."""
    mask = np.array(mask, dtype=np.int8)
    if isinstance(space, KOfN):
        off = np.flatnonzero(mask == 0)
        need = space.k - int(mask.sum())
        if need > 0:
            mask[np.roll(off, pick)[:need]] = 1
    if isinstance(space, Discrete):
        for block in naive.groups(space):
            if not mask[block.start : block.stop].any():
                mask[block[pick % len(block)]] = 1
    return mask


def random_mask(space, seed: int, p_allowed: float = 0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return repair_mask(space, (rng.random(space.m) < p_allowed).astype(np.int8), int(rng.integers(0, 100)))


@st.composite
def masked_spaces(draw, max_n: int = 8):
    """``(space, mask)``: any of the three spaces with edge sizes (m = 1, 2; k = 0, k = n; one-valued
    components), and a feasible mask over the encoding or None; at most 9 encoding bits."""
    kind = draw(st.sampled_from(("binary", "k-of-n", "discrete")))
    if kind == "binary":
        space = Binary(draw(st.integers(1, max_n)))
    elif kind == "k-of-n":
        n = draw(st.integers(1, max_n))
        space = KOfN(n, draw(st.integers(0, n)))
    else:
        space = Discrete(tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))))
    if not draw(st.booleans()):
        return space, None
    bits = draw(st.lists(st.integers(0, 1), min_size=space.m, max_size=space.m))
    return space, repair_mask(space, bits, draw(st.integers(0, 10)))


def allowed_of(space, mask) -> np.ndarray:
    return np.ones(space.m, dtype=np.int8) if mask is None else np.asarray(mask, dtype=np.int8)


# ================================================================== jitted drivers


@numba.njit
def _walk(D, aux, M, S, x, picks, xs, fs, values, counts, moves, deltas):
    """From the feasible ``x``, make move ``picks[t] % count`` at step ``t``. At every state visited
    record the encoding ``xs[t]``, the running value ``fs[t]`` (``f`` plus the committed deltas), the
    fresh value ``values[t]``, the neighbourhood ``moves[t, :counts[t]]`` and each move's delta.
    Returns the number of states visited."""
    mv_reset(M, S, x)
    f = ls_reset(D, aux, x)
    visited = 0
    for t in range(picks.shape[0] + 1):
        for b in range(x.shape[0]):
            xs[t, b] = x[b]
        fs[t] = f
        values[t] = ls_value(D, aux, x)
        count = mv_count(M, S)
        counts[t] = count
        for idx in range(count):
            i, j = mv_nth(M, S, idx)
            moves[t, idx, 0] = i
            moves[t, idx, 1] = j
            deltas[t, idx] = ls_delta(D, aux, x, f, i, j)
        visited = t + 1
        if t == picks.shape[0] or count == 0:
            break
        idx = picks[t] % count
        i = moves[t, idx, 0]
        j = moves[t, idx, 1]
        ls_commit(D, aux, x, i, j)
        mv_apply(M, S, i, j)
        f += deltas[t, idx]
    return visited


def walk(landscape, moves, x, picks):
    """Run :func:`_walk`; returns ``(xs, fs, values, neighbourhoods, deltas)`` of the states visited,
    ``neighbourhoods[t]`` the list of moves ``(i, j)`` and ``deltas[t]`` their deltas."""
    m, steps = moves.m, len(picks)
    width = m * m + 1
    xs = np.zeros((steps + 1, m), dtype=np.int8)
    fs, values = np.zeros(steps + 1), np.zeros(steps + 1)
    counts = np.zeros(steps + 1, dtype=np.int64)
    mv = np.zeros((steps + 1, width, 2), dtype=np.int64)
    ds = np.zeros((steps + 1, width))
    visited = _walk(
        landscape.kernel_data(),
        landscape.kernel_aux(),
        moves,
        move_state(moves),
        np.array(x, dtype=np.int8),
        np.array(picks, dtype=np.int64),
        xs,
        fs,
        values,
        counts,
        mv,
        ds,
    )
    hoods = [[tuple(int(v) for v in mv[t, idx]) for idx in range(counts[t])] for t in range(visited)]
    return xs[:visited], fs[:visited], values[:visited], hoods, [ds[t, : counts[t]] for t in range(visited)]


@numba.njit
def _random_states(M, S, rng, X):
    for r in range(X.shape[0]):
        mv_random_state(M, S, X[r], rng)


@numba.njit
def _random_moves(M, S, x, rng, out):
    mv_reset(M, S, x)
    for t in range(out.shape[0]):
        i, j = mv_random(M, S, rng)
        out[t, 0] = i
        out[t, 1] = j


@numba.njit
def _start_states(M, S, starts, rng, X, counts):
    for r in range(X.shape[0]):
        start_state(M, S, starts, r, X[r], rng)
        counts[r] = mv_count(M, S)


@numba.njit
def _u64s(state, out):
    for t in range(out.shape[0]):
        out[t] = next_u64(state)


@numba.njit
def _uniforms(state, out):
    for t in range(out.shape[0]):
        out[t] = uniform(state)


@numba.njit
def _randints(state, n, out):
    for t in range(out.shape[0]):
        out[t] = randint(state, n)


@numba.njit
def _random_bits(state, x):
    random_bits(state, x)


# ================================================================== Quadratic and MLP (numpy side)


@st.composite
def problems(draw, max_n: int = 8):
    """A raw quadratic ``(c, h, J)`` and a binary vector ``x``."""
    n = draw(st.integers(1, max_n))
    c = draw(COEF)
    h = np.array(draw(st.lists(COEF, min_size=n, max_size=n)))
    J = np.array(draw(st.lists(COEF, min_size=n * n, max_size=n * n))).reshape(n, n)
    x = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int8)
    return c, h, J, x


def scale(c, h, J) -> float:
    return 1.0 + abs(c) + np.abs(h).sum() + np.abs(J).sum()


@SETTINGS
@given(problems())
def test_quadratic_value_matches_formula_on_raw_J(problem):
    c, h, J, x = problem
    q = Quadratic(c, h, J)
    assert q(x) == pytest.approx(naive.quadratic_value(c, h, J, x), abs=1e-9 * scale(c, h, J))


@SETTINGS
@given(problems())
def test_quadratic_is_stored_symmetric_with_zero_diagonal(problem):
    c, h, J, _ = problem
    q = Quadratic(c, h, J)
    np.testing.assert_array_equal(q.J, q.J.T)
    np.testing.assert_array_equal(np.diagonal(q.J), 0.0)


@pytest.mark.parametrize("form", QUADRATIC_FORMS + ("mlp1", "mlp2", "mlp3", "objective"))
@pytest.mark.parametrize("m", [1, 2, 7])
def test_numpy_call_matches_naive_on_every_action_and_in_batches(form, m):
    land, ref, mag = make_landscape(form, m, seed=10 * m + len(form))
    xs = np.array(list(naive.all_actions(m)))
    want = np.array([ref(x) for x in xs])
    np.testing.assert_allclose([land(x) for x in xs], want, rtol=0, atol=REL * mag)
    np.testing.assert_allclose(land(xs), want, rtol=0, atol=REL * mag)
    if m == 2:
        np.testing.assert_allclose(land(xs.reshape(2, 2, m)), want.reshape(2, 2), rtol=0, atol=REL * mag)


@pytest.mark.parametrize("form", ("dense", "low-rank", "dense+low-rank"))
def test_quadratic_dense_and_from_factors_give_the_same_function(form):
    m = 6
    land, ref, mag = make_landscape(form, m, seed=3)
    dense = land.dense()
    assert dense.form == "dense" and dense.U is None
    xs = np.array(list(naive.all_actions(m)))
    np.testing.assert_allclose(dense(xs), [ref(x) for x in xs], rtol=0, atol=REL * mag)
    rng = np.random.default_rng(0)
    for r in (1, 2, 4):  # 5r <= m keeps the low-rank form, otherwise dense
        U, sigma = rng.normal(size=(m, r)), rng.normal(size=r)
        q = Quadratic.from_factors(1.0, np.ones(m), U, sigma)
        assert q.form == ("low-rank" if 5 * r <= m else "dense")
        want = [naive.quadratic_value(1.0, np.ones(m), None, x, U, sigma) for x in xs]
        np.testing.assert_allclose(q(xs), want, rtol=0, atol=1e-9 * (m + np.abs(sigma) @ np.abs(U).sum(0) ** 2))
    # a dense matrix that would cost more than DENSE_BUILD_MAX to build stays in factors, whatever r
    big, r = 1024, 256
    U, sigma = rng.normal(size=(big, r)), rng.normal(size=r)
    assert 5 * r > big and r * big * big > DENSE_BUILD_MAX  # the search-cost rule alone would build it dense
    q = Quadratic.from_factors(0.0, np.zeros(big), U, sigma)
    assert q.form == "low-rank"
    x = rng.integers(0, 2, big)
    assert q(x) == pytest.approx(float(((x @ U) ** 2) @ sigma), rel=1e-9)
    r = DENSE_BUILD_MAX // 64**2  # at m = 64 every rank up to this is built dense
    assert 5 * r > 64
    assert Quadratic.from_factors(0.0, np.zeros(64), rng.normal(size=(64, r)), np.ones(r)).form == "dense"


def test_quadratic_form_names():
    m = 4
    assert Quadratic(0.0, np.zeros(m)).form == "linear"
    assert Quadratic(0.0, np.zeros(m), np.zeros((m, m))).form == "dense"
    assert Quadratic.low_rank(0.0, np.zeros(m), np.ones((m, 1)), [1.0]).form == "low-rank"
    assert Quadratic(0.0, np.zeros(m), np.zeros((m, m)), U=np.ones((m, 1)), sigma=[1.0]).form == "dense+low-rank"


# ================================================================== the sparse form


@st.composite
def edge_lists(draw, max_n: int = 8):
    """``(m, rows, cols, values)``: entries of ``J`` off its diagonal, in either triangle, some
    repeated (at the same place or mirrored), some cancelling, possibly none."""
    m = draw(st.integers(1, max_n))
    pairs = [(i, j) for i in range(m) for j in range(m) if i != j]
    entries = draw(st.lists(st.tuples(st.sampled_from(pairs), COEF), max_size=3 * m)) if pairs else []
    if entries and draw(st.booleans()):  # an entry cancelled by its mirror image
        (i, j), v = entries[0]
        entries.append(((j, i), -v))
    rows = np.array([i for (i, _), _ in entries], dtype=np.int64)
    cols = np.array([j for (_, j), _ in entries], dtype=np.int64)
    values = np.array([v for _, v in entries], dtype=np.float64)
    return m, rows, cols, values


def raw_J(m, rows, cols, values) -> np.ndarray:
    J = np.zeros((m, m))
    np.add.at(J, (rows, cols), values)
    return J


@SETTINGS
@given(edge_lists(), st.data())
def test_sparse_quadratic_matches_the_formula_and_its_dense_twin(edges, data):
    m, rows, cols, values = edges
    h = np.array(data.draw(st.lists(COEF, min_size=m, max_size=m)))
    q = Quadratic.from_edges(0.5, h, rows, cols, values)
    assert q.form == "sparse" and q.J is None
    indptr, indices, weights = q.sparse
    J = raw_J(m, rows, cols, values)
    # canonical: symmetric, no diagonal, no zeros, sorted unique columns per row
    stored = np.zeros((m, m))
    for i in range(m):
        cols_i = indices[indptr[i] : indptr[i + 1]]
        assert np.all(np.diff(cols_i) > 0) and i not in cols_i
        stored[i, cols_i] = weights[indptr[i] : indptr[i + 1]]
    assert np.all(weights != 0.0)
    np.testing.assert_allclose(stored, 0.5 * (J + J.T), rtol=0, atol=1e-12 * scale(0.5, h, J))
    xs = np.array(list(naive.all_actions(m)))
    want = np.array([naive.quadratic_value(0.5, h, J, x) for x in xs])
    tol = 1e-9 * scale(0.5, h, J)
    np.testing.assert_allclose(q(xs), want, rtol=0, atol=tol)
    np.testing.assert_allclose([q(x) for x in xs], want, rtol=0, atol=tol)
    np.testing.assert_allclose(q.dense()(xs), want, rtol=0, atol=tol)
    dense = Quadratic(0.5, h, J)
    np.testing.assert_allclose(q.flip_bounds(), dense.flip_bounds(), rtol=0, atol=tol)
    np.testing.assert_allclose(q.corner_deltas(), dense.corner_deltas(), rtol=0, atol=tol)


def test_sparse_quadratic_takes_a_scipy_matrix_and_refuses_bad_input():
    import scipy.sparse as sps

    rng = np.random.default_rng(0)
    m = 12
    A = sps.random(m, m, density=0.3, random_state=1, format="csr")
    A.setdiag(0.0)
    A.eliminate_zeros()
    h = rng.normal(size=m)
    q = Quadratic(1.0, h, A)
    assert q.form == "sparse" and q.J is None
    xs = rng.integers(0, 2, size=(20, m))
    np.testing.assert_allclose(q(xs), Quadratic(1.0, h, A.toarray())(xs), rtol=1e-12)
    coo = A.tocoo()
    np.testing.assert_allclose(Quadratic.from_edges(1.0, h, coo.row, coo.col, coo.data)(xs), q(xs), rtol=1e-12)
    empty = Quadratic.from_edges(2.0, h, [], [], [])
    assert empty.sparse.indices.size == 0 and empty(xs[0]) == pytest.approx(2.0 + h @ xs[0])
    bad = [
        (([1], [1], [2.0]), "couples bit 1 with itself"),
        (([0], [m], [1.0]), "cols must be integer indices in 0..11"),
        (([-1], [2], [1.0]), "rows must be integer indices in 0..11"),
        (([0, 1], [2], [1.0]), "the same length"),
        (([0.5], [2], [1.0]), "rows must be integer indices"),
        (([0], [2], [np.nan]), "finite"),
    ]
    for (rows, cols, values), message in bad:
        with pytest.raises(ValueError, match=message):
            Quadratic.from_edges(0.0, h, rows, cols, values)
    csr = q.sparse
    with pytest.raises(ValueError, match="symmetric"):
        Quadratic(0.0, h, sparse=(csr.indptr, csr.indices, csr.data * np.linspace(1, 2, csr.data.size)))
    with pytest.raises(ValueError, match="sorted and unique"):  # row 0 lists bit 2 before bit 1
        Quadratic(0.0, np.zeros(3), sparse=([0, 2, 3, 4], [2, 1, 0, 0], [1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="no diagonal"):
        Quadratic(0.0, np.zeros(2), sparse=([0, 1, 1], [0], [1.0]))
    with pytest.raises(ValueError, match="once"):
        Quadratic(0.0, h, np.zeros((m, m)), sparse=csr)
    with pytest.raises(ValueError, match="low-rank"):
        Quadratic(0.0, h, sparse=csr, U=np.ones((m, 1)), sigma=[1.0])


def test_a_dense_J_with_few_couplings_is_searched_in_the_sparse_form_with_the_same_deltas(monkeypatch):
    import standin.search.landscapes as landscapes

    rng = np.random.default_rng(3)
    m = landscapes.SPARSE_MIN_M
    J = np.where(rng.random((m, m)) < 0.03, rng.normal(size=(m, m)), 0.0)  # about 6% once symmetric
    q = Quadratic(0.0, rng.normal(size=m), J)
    assert q.form == "dense" and type(q.kernel_data()).__name__ == "SparseData"
    full = Quadratic(0.0, rng.normal(size=m), rng.normal(size=(m, m)))
    assert type(full.kernel_data()).__name__ == "DenseData"  # dense couplings stay dense
    small = Quadratic(0.0, np.zeros(m - 1), J[1:, 1:])
    assert type(small.kernel_data()).__name__ == "DenseData"  # below SPARSE_MIN_M: no gain
    picks = rng.integers(0, 10**6, size=40)
    for space in (Binary(m), KOfN(m, 5)):
        x0 = naive.feasible_encodings(space)[0] if m <= 9 else _first_state(space)
        sparse_walk = walk(q, space.moves(), x0, picks)
        monkeypatch.setattr(landscapes, "SPARSE_MAX_DENSITY", 0.0)
        dense_q = Quadratic(0.0, q.h, q.J)
        assert type(dense_q.kernel_data()).__name__ == "DenseData"
        dense_walk = walk(dense_q, space.moves(), x0, picks)
        monkeypatch.undo()
        np.testing.assert_array_equal(sparse_walk[0], dense_walk[0])  # the same states ...
        np.testing.assert_allclose(sparse_walk[1], dense_walk[1], rtol=0, atol=1e-9 * scale(0, q.h, J))
        for a, b in zip(sparse_walk[4], dense_walk[4], strict=True):  # ... and the same move deltas
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * scale(0, q.h, J))


def _first_state(space) -> np.ndarray:
    x = np.zeros(space.m, dtype=np.int8)
    x[: getattr(space, "k", 0)] = 1
    return x


# ================================================================== anneal's temperature range


@numba.njit
def _range_driver(seen):
    return _range_from_changes(seen, seen.shape[0])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.just(0.0), st.just(1e-14), st.sampled_from([1.0, 2.0, 3.0]),
                          st.floats(0.0, 1e6, allow_nan=False)), min_size=0, max_size=60))
def test_temperature_range_from_changes_matches_numpy(changes):
    """The kernel's range: the largest change accepted with 1/2 at the hot end, numpy's 10th percentile
    of the changes above 1e-9 of the largest accepted with 1/100 at the cold end (never above hot)."""
    seen = np.array(changes, dtype=np.float64)
    hot, cold = _range_driver(seen.copy())
    top = seen.max(initial=0.0)
    kept = seen[seen > 1e-9 * top]
    if kept.size == 0:
        assert (hot, cold) == (1.0, 1e-3)
        return
    assert hot == pytest.approx(top / np.log(2.0), rel=1e-15)
    assert cold == pytest.approx(min(np.quantile(kept, 0.1) / np.log(100.0), hot), rel=1e-12)


# ================================================================== landscape deltas and move sets


EDGE_CASES = [
    (Binary(1), None),
    (Binary(2), np.array([0, 1], dtype=np.int8)),
    (Binary(3), np.zeros(3, dtype=np.int8)),
    (KOfN(1, 0), None),
    (KOfN(1, 1), None),
    (KOfN(2, 1), None),
    (KOfN(5, 0), None),
    (KOfN(5, 5), None),
    (KOfN(5, 2), np.array([1, 0, 1, 0, 0], dtype=np.int8)),
    (Discrete((1,)), None),
    (Discrete((2,)), None),
    (Discrete((1, 3, 1)), None),
    (Discrete((3, 3)), np.array([0, 1, 0, 1, 1, 1], dtype=np.int8)),
]


def with_edge_cases(test):
    """Add every case of EDGE_CASES as an explicit example (with a few moves) to a hypothesis test."""
    for number, case in enumerate(EDGE_CASES):
        test = example(case=case, seed=number, scale_exp=0, start=number, picks=[number, 3, 1, 4, 1, 5])(test)
    return test


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=25, deadline=None, derandomize=True)
@with_edge_cases
@given(
    case=masked_spaces(),
    seed=st.integers(0, 2**32 - 1),
    scale_exp=st.sampled_from([-3, 0, 3]),
    start=st.integers(0, 10**6),
    picks=st.lists(st.integers(0, 10**6), min_size=0, max_size=8),
)
def test_deltas_and_neighbourhoods_match_recomputation_along_a_walk(form, case, seed, scale_exp, start, picks):
    """At every state of a random walk: the neighbourhood ``mv_nth`` enumerates is exactly the set of
    feasible one-move neighbours, every move's delta equals the recomputed change, the running sum
    of committed deltas and ``ls_value`` equal the recomputed value."""
    space, mask = case
    land, ref, mag = make_landscape(form, space.m, seed, scale=10.0**scale_exp)
    moves = space.moves(mask)
    allowed = allowed_of(space, mask)
    feasible = naive.feasible_encodings(space, allowed)
    x0 = feasible[start % len(feasible)]
    xs, fs, values, hoods, deltas = walk(land, moves, x0, picks)
    tol = REL * mag
    for t, x in enumerate(xs):
        assert naive.is_feasible(space, allowed, x)
        f = ref(x)
        assert fs[t] == pytest.approx(f, abs=tol), f"running value drifted at step {t}"
        assert values[t] == pytest.approx(f, abs=tol)
        results = set()
        for (i, j), d in zip(hoods[t], deltas[t], strict=True):
            if isinstance(space, Binary):
                assert j == -1
            else:  # i turns off, j turns on
                assert x[i] == 1 and x[j] == 0
            y = naive.flipped(x, i, j)
            results.add(y.tobytes())
            assert d == pytest.approx(ref(y) - f, abs=tol), f"delta of move {(i, j)} at step {t}"
        assert len(results) == len(hoods[t]), "a move appears twice in the neighbourhood"
        assert results == naive.neighbours(space, allowed, x, candidates=feasible)
        if t:
            assert naive.one_move_apart(space, xs[t - 1], x)
    assert len(xs) == len(picks) + 1 or not hoods[-1]


@pytest.mark.parametrize("form", FORMS)
def test_long_walk_keeps_the_running_value_exact(form):
    """500 committed moves on each space: the running sum stays within 1e-9 (relative) of a fresh
    recomputation."""
    for space in (Binary(9), KOfN(9, 4), Discrete((3, 2, 4))):
        land, ref, mag = make_landscape(form, space.m, seed=77)
        moves = space.moves()
        x0 = naive.feasible_encodings(space)[5]
        picks = np.random.default_rng(1).integers(0, 10**6, size=500)
        xs, fs, values, _, _ = walk(land, moves, x0, picks)
        assert len(xs) == 501
        for t in (0, 1, 10, 100, 499, 500):
            assert fs[t] == pytest.approx(ref(xs[t]), abs=REL * mag)
            assert values[t] == pytest.approx(ref(xs[t]), abs=REL * mag)


@pytest.mark.parametrize(
    "space, mask",
    [
        (Binary(1), None),
        (Binary(3), [1, 0, 1]),
        (KOfN(4, 2), None),
        (KOfN(5, 2), [1, 1, 0, 1, 0]),
        (KOfN(3, 0), None),
        (KOfN(3, 3), None),
        (Discrete((3, 2)), None),
        (Discrete((3, 1, 2)), [1, 0, 1, 1, 1, 1]),
    ],
)
def test_random_states_are_feasible_and_uniform(space, mask):
    moves = space.moves(None if mask is None else np.array(mask))
    allowed = allowed_of(space, mask)
    feasible = [x.tobytes() for x in naive.feasible_encodings(space, allowed)]
    draws = 300 * len(feasible)
    X = np.zeros((draws, space.m), dtype=np.int8)
    _random_states(moves, move_state(moves), rng_state(len(feasible)), X)
    counts = dict.fromkeys(feasible, 0)
    for x in X:
        assert x.tobytes() in counts, x
        counts[x.tobytes()] += 1
    assert_roughly_uniform(np.array(list(counts.values())))


@pytest.mark.parametrize(
    "space, mask",
    [
        (Binary(5), [1, 1, 0, 1, 1]),
        (KOfN(5, 2), None),
        (KOfN(6, 3), [1, 1, 1, 0, 1, 1]),
        (Discrete((3, 1, 4)), None),
    ],
)
def test_random_moves_are_uniform_over_the_neighbourhood(space, mask):
    moves = space.moves(None if mask is None else np.array(mask))
    allowed = allowed_of(space, mask)
    x = naive.feasible_encodings(space, allowed)[1]
    hood = naive.neighbours(space, allowed, x)
    out = np.zeros((250 * len(hood), 2), dtype=np.int64)
    _random_moves(moves, move_state(moves), x.copy(), rng_state(3), out)
    counts = dict.fromkeys(hood, 0)
    for i, j in out:
        counts[naive.flipped(x, i, j).tobytes()] += 1  # a KeyError is a move out of the neighbourhood
    assert_roughly_uniform(np.array(list(counts.values())))


def test_start_states_cycle_through_the_given_rows():
    space = KOfN(6, 2)
    moves = space.moves()
    starts = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 1], [0, 1, 0, 0, 1, 0]], dtype=np.int8)
    X = np.zeros((7, 6), dtype=np.int8)
    counts = np.zeros(7, dtype=np.int64)
    _start_states(moves, move_state(moves), starts, rng_state(0), X, counts)
    np.testing.assert_array_equal(X, starts[np.arange(7) % 3])
    assert (counts == 2 * 4).all()
    # without rows, every start is a random feasible state
    _start_states(moves, move_state(moves), np.zeros((0, 6), dtype=np.int8), rng_state(0), X, counts)
    assert all(naive.is_feasible(space, None, x) for x in X)
    assert len({x.tobytes() for x in X}) > 1


def assert_roughly_uniform(counts):
    """A chi-square test against uniform counts, at about six standard deviations."""
    if counts.size < 2:
        return
    expected = counts.sum() / counts.size
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    df = counts.size - 1
    assert chi2 < df + 6.0 * np.sqrt(2.0 * df), counts


# ================================================================== random numbers


def test_rng_same_seed_same_stream():
    a, b = rng_state(7), rng_state(7)
    np.testing.assert_array_equal(a, b)
    out_a, out_b = np.zeros(50, dtype=np.uint64), np.zeros(50, dtype=np.uint64)
    _u64s(a, out_a)
    _u64s(b, out_b)
    np.testing.assert_array_equal(out_a, out_b)


def test_rng_different_seeds_different_streams():
    a, b = np.zeros(5, dtype=np.uint64), np.zeros(5, dtype=np.uint64)
    _u64s(rng_state(7), a)
    _u64s(rng_state(8), b)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**63, 2**64 - 1, -1, -(2**70) + 3, 2**100 + 5])
def test_rng_state_is_seeded_by_splitmix64(seed):
    want = naive.splitmix64_words(seed % 2**64, 4)
    assert [int(v) for v in rng_state(seed)] == want
    assert rng_state(seed).dtype == np.uint64


def test_rng_rejects_non_integer_seed():
    for bad in (1.5, "3", None, True):
        with pytest.raises(ValueError, match="seed must be an integer"):
            rng_state(bad)


def test_next_u64_matches_naive_xoshiro():
    state = rng_state(123)
    ref = naive.Xoshiro256ss(state.copy())
    out = np.zeros(200, dtype=np.uint64)
    _u64s(state, out)
    assert [int(v) for v in out] == [ref.next_u64() for _ in range(200)]
    assert [int(v) for v in state] == ref.s


def test_uniform_and_randint_and_random_bits_match_naive():
    state = rng_state(5)
    ref = naive.Xoshiro256ss(state.copy())
    u = np.zeros(50)
    _uniforms(state, u)
    assert u.tolist() == [ref.uniform() for _ in range(50)]
    for k in (1, 2, 3, 10, 1000, 3 * 2**30, 2**32 - 1):
        out = np.zeros(20, dtype=np.int64)
        _randints(state, k, out)
        assert out.tolist() == [ref.randint(k) for _ in range(20)]
    for n in (1, 63, 64, 65, 200):
        x = np.empty(n, dtype=np.int8)
        _random_bits(state, x)
        np.testing.assert_array_equal(x, ref.random_bits(n))
    assert [int(v) for v in state] == ref.s


@pytest.mark.parametrize("k", [1, 2, 3, 7, 10, 37])
def test_randint_in_range_and_roughly_uniform(k):
    out = np.zeros(400 * k, dtype=np.int64)
    _randints(rng_state(2024 + k), k, out)
    assert out.min() >= 0 and out.max() < k
    assert_roughly_uniform(np.bincount(out, minlength=k))


def test_randint_large_range_stays_in_range():
    k = 3 * 2**30  # near the 2^32 limit and far from a power of two: rejection matters
    out = np.zeros(2000, dtype=np.int64)
    _randints(rng_state(1), k, out)
    assert out.min() >= 0 and out.max() < k


def test_uniform_in_unit_interval_with_mean_one_half():
    u = np.zeros(20000)
    _uniforms(rng_state(11), u)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 6.0 * np.sqrt(1.0 / 12.0 / u.size)


def test_random_bits_are_roughly_fair():
    x = np.empty(100_000, dtype=np.int8)
    _random_bits(rng_state(3), x)
    assert set(np.unique(x).tolist()) <= {0, 1}
    assert abs(x.mean() - 0.5) < 6.0 * 0.5 / np.sqrt(x.size)


def test_every_kernel_documents_each_of_its_parameters():
    """Each @kernel's numpydoc docstring (built by search.jit.kernel_doc) names every argument."""
    import inspect
    import re

    from standin.search import anneal, exhaustive, greedy, landscapes, tabu

    kernels = {name: obj for mod in (anneal, exhaustive, greedy, landscapes, tabu) for name, obj in vars(mod).items()
               if callable(obj) and hasattr(obj, "keyed") and obj.__module__ == mod.__name__}
    assert {"_anneal", "anneal_batch", "_greedy", "greedy_batch", "_tabu", "tabu_batch", "_exhaustive"} <= set(kernels)
    for name, fn in kernels.items():
        doc = fn.__doc__ or ""
        assert "Parameters\n----------\n" in doc, name
        headers = re.findall(r"^(\S[^\n]*) : ", doc, re.M)
        documented = {p.strip() for h in headers for p in h.split(",")}
        assert set(inspect.signature(fn).parameters) <= documented, name
