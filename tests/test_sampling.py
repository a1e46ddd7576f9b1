"""search.sampling: uniform sampling, neighbours, and the sampling methods over a batch evaluator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from standin.search.sampling import (
    SamplingResult,
    beam,
    cem,
    check_feasible,
    encode_batch,
    neighbours,
    random_shooting,
    sample_uniform,
)
from standin.search.spaces import FLIP, Binary, Discrete, KOfN
from standin.search.trace import checkpoints

# (space, mask over the encoding or None); each has at most 2**9 encodings, so all can be enumerated.
CASES = {
    "binary1": (Binary(1), None),
    "binary6": (Binary(6), None),
    "binary6-masked": (Binary(6), [1, 0, 1, 1, 0, 1]),
    "binary3-fixed": (Binary(3), [0, 0, 0]),
    "kofn6-2": (KOfN(6, 2), None),
    "kofn6-0": (KOfN(6, 0), None),
    "kofn6-6": (KOfN(6, 6), None),
    "kofn6-3-masked": (KOfN(6, 3), [1, 1, 0, 1, 1, 1]),
    "kofn5-2-fixed": (KOfN(5, 2), [0, 1, 0, 1, 0]),
    "discrete": (Discrete((3, 2, 4)), None),
    "discrete-masked": (Discrete((3, 2, 4)), [1, 0, 1, 1, 1, 0, 1, 1, 0]),
    "discrete1": (Discrete((1,)), None),
    "discrete-fixed": (Discrete((2, 3)), [0, 1, 0, 0, 1]),
}

METHODS = {
    "random_shooting": lambda *args: random_shooting(*args, batch=7),
    "cem": lambda *args: cem(*args, population=16, elites=4),
    "beam": lambda *args: beam(*args, width=3),
}


def moves_of(case):
    space, mask = CASES[case]
    return space, space.moves(None if mask is None else np.array(mask))


def all_feasible(space, moves) -> np.ndarray:
    """Every feasible encoding, int8 ``(count, m)``, by brute force over ``{0,1}^m``."""
    xs = np.array(list(itertools.product((0, 1), repeat=moves.m)), dtype=np.int8)
    return xs[[space.feasible(x, moves.allowed) for x in xs]]


def quadratic(seed: int, m: int):
    """A random batch evaluator ``c + X h + x^T J x`` over encodings ``X`` ``(B, m)``."""
    rng = np.random.default_rng(seed)
    c, h, J = rng.normal(), rng.normal(size=m), rng.normal(size=(m, m))

    def evaluate(X):
        X = np.asarray(X, dtype=np.float64)
        return c + X @ h + np.einsum("bi,ij,bj->b", X, J, X)

    return evaluate


class Counted:
    """Wraps an evaluator, checking its input and counting rows and calls."""

    def __init__(self, evaluate, m):
        self.evaluate, self.m, self.rows, self.calls = evaluate, m, 0, 0

    def __call__(self, X):
        assert X.dtype == np.int8 and X.ndim == 2 and X.shape[1] == self.m and len(X) >= 1
        self.rows += len(X)
        self.calls += 1
        return self.evaluate(X)


# ----------------------------------------------------------------------------- sample_uniform


@pytest.mark.parametrize("case", CASES)
def test_sample_uniform_is_always_feasible(case):
    space, moves = moves_of(case)
    feasible = {x.tobytes() for x in all_feasible(space, moves)}
    for seed in range(10):
        X = sample_uniform(moves, 40, np.random.default_rng(seed))
        assert X.dtype == np.int8 and X.shape == (40, moves.m)
        check_feasible(moves, X)
        assert {x.tobytes() for x in X} <= feasible


@pytest.mark.parametrize("space", [Binary(7), KOfN(7, 3), Discrete((3, 3, 2))], ids=str)
def test_sample_uniform_is_feasible_under_random_masks(space):
    rng = np.random.default_rng(1)
    for _ in range(30):
        allowed = rng.integers(0, 2, size=space.m)
        if isinstance(space, KOfN):
            allowed[rng.choice(space.m, size=space.k, replace=False)] = 1
        if isinstance(space, Discrete):
            allowed[space.offsets[:-1] + rng.integers(0, space.nvec)] = 1
        moves = space.moves(allowed)
        X = sample_uniform(moves, 30, rng)
        check_feasible(moves, X)
        assert all(space.feasible(x, moves.allowed) for x in X)


@pytest.mark.parametrize("case", ["binary6-masked", "kofn6-2", "kofn6-3-masked", "discrete-masked"])
def test_sample_uniform_is_uniform(case):
    space, moves = moves_of(case)
    feasible = all_feasible(space, moves)
    index = {x.tobytes(): i for i, x in enumerate(feasible)}
    samples = sample_uniform(moves, 200 * len(feasible), np.random.default_rng(0))
    counts = np.bincount([index[x.tobytes()] for x in samples], minlength=len(feasible))
    _, p_value = stats.chisquare(counts)
    assert p_value > 1e-4, counts


def test_sample_uniform_zero_count():
    _, moves = moves_of("discrete")
    assert sample_uniform(moves, 0, np.random.default_rng(0)).shape == (0, moves.m)


# ----------------------------------------------------------------------------- neighbours


def slow_neighbours(space, moves, x) -> set:
    """Feasible encodings one move from ``x``: Hamming distance 1 for flips, 2 for swaps and changes."""
    distance = 1 if moves.kind == FLIP else 2
    return {y.tobytes() for y in all_feasible(space, moves) if int(np.sum(y != x)) == distance}


@pytest.mark.parametrize("case", CASES)
def test_neighbours_match_slow_reference(case):
    space, moves = moves_of(case)
    for x in all_feasible(space, moves):
        got = neighbours(moves, x)
        assert got.dtype == np.int8 and got.shape[1:] == (moves.m,)
        keys = [y.tobytes() for y in got]
        assert len(set(keys)) == len(keys)
        assert set(keys) == slow_neighbours(space, moves, x)


def test_neighbours_rejects_infeasible_state():
    _, moves = moves_of("kofn6-2")
    with pytest.raises(ValueError, match="3 ones, expected k = 2"):
        neighbours(moves, np.array([1, 1, 1, 0, 0, 0]))


# ----------------------------------------------------------------------------- encode_batch, check_feasible


def test_encode_batch_matches_space_encode():
    space = Discrete((3, 2, 4))
    actions = np.array([[0, 1, 3], [2, 0, 0], [1, 1, 2]])
    np.testing.assert_array_equal(encode_batch(space, actions), [space.encode(a) for a in actions])
    bits = np.array([[0, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(encode_batch(Binary(3), bits), bits.astype(np.int8))


def test_encode_batch_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        encode_batch(Discrete((3, 2, 4)), np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="row 1 .* out of range"):
        encode_batch(Discrete((3, 2, 4)), np.array([[0, 0, 0], [0, 2, 0]]))
    with pytest.raises(ValueError, match="row 0 has entries other than 0 and 1"):
        encode_batch(Binary(3), np.array([[0, 2, 1]]))
    with pytest.raises(ValueError, match="must be integers"):
        encode_batch(Discrete((3,)), np.array([[0.5]]))


@pytest.mark.parametrize(
    "case, X, why",
    [
        ("binary6-masked", [[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]], "row 1: bit 1 is set but masked"),
        ("kofn6-2", [[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]], "row 1: 1 ones, expected k = 2"),
        (
            "discrete",
            [[1, 0, 0, 1, 0, 1, 0, 0, 0], [1, 0, 0, 1, 0, 1, 1, 0, 0]],
            r"row 1: component 2 is not one-hot \(2 ones\)",
        ),
        ("binary6", [[0, 0, 0, 0, 0, 0], [0, 0, 0, 3, 0, 0]], "row 1: entries other than 0 and 1"),
    ],
)
def test_check_feasible_names_first_bad_row(case, X, why):
    _, moves = moves_of(case)
    with pytest.raises(ValueError, match=why):
        check_feasible(moves, np.array(X, dtype=np.int8))


# ----------------------------------------------------------------------------- every method


def run(method, case, budget, seed, evaluate=None):
    space, moves = moves_of(case)
    evaluate = evaluate or Counted(quadratic(100, moves.m), moves.m)
    result = METHODS[method](evaluate, space, moves, budget, np.random.default_rng(seed), checkpoints(budget))
    return result, evaluate


def assert_same(a: SamplingResult, b: SamplingResult):
    np.testing.assert_array_equal(a.x, b.x)
    assert (a.score, a.evaluations, a.log_prob) == (b.score, b.evaluations, b.log_prob)
    np.testing.assert_array_equal(a.trace, b.trace)


@pytest.mark.parametrize("budget", [1, 37])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_method_contract(method, case, budget):
    space, moves = moves_of(case)
    result, counted = run(method, case, budget, seed=3)
    marks = checkpoints(budget)
    assert counted.rows == result.evaluations <= budget
    if method != "beam":  # beam may stop early when no unvisited neighbour is left
        assert result.evaluations == budget
    assert result.x.dtype == np.int8 and result.x.shape == (moves.m,)
    assert space.feasible(result.x, moves.allowed)
    assert result.score == pytest.approx(counted.evaluate(result.x[None])[0], rel=1e-12, abs=1e-12)
    reached = marks <= result.evaluations
    assert result.trace.shape == marks.shape
    assert np.isfinite(result.trace[reached]).all() and np.isnan(result.trace[~reached]).all()
    assert (np.diff(result.trace[reached]) >= 0).all()
    assert result.trace[reached][-1] <= result.score
    if result.evaluations == budget:
        assert result.trace[-1] == result.score
    assert_same(result, run(method, case, budget, seed=3)[0])


@pytest.mark.parametrize("method", METHODS)
def test_trace_is_best_so_far_at_every_mark(method):
    values = []

    def evaluate(X):
        v = quadratic(5, 10)(X)
        values.extend(v)
        return v

    space, moves = Binary(10), Binary(10).moves()
    result = METHODS[method](evaluate, space, moves, 200, np.random.default_rng(0), checkpoints(200))
    best_so_far = np.maximum.accumulate(values)
    marks = checkpoints(200)
    np.testing.assert_array_equal(result.trace, best_so_far[marks - 1])


@pytest.mark.parametrize("method", METHODS)
def test_different_seeds_differ(method):
    space = Binary(20)
    results = [
        METHODS[method](quadratic(0, 20), space, space.moves(), 50, np.random.default_rng(s), checkpoints(50))
        for s in range(3)
    ]
    assert any(not np.array_equal(results[0].trace, r.trace) for r in results[1:])


@pytest.mark.parametrize("method", METHODS)
def test_methods_call_evaluate_in_batches(method):
    result, counted = run(method, "discrete", 60, seed=0)
    assert counted.calls < result.evaluations / 2


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", ["binary6-masked", "kofn6-3-masked", "discrete-masked"])
def test_cem_and_beam_find_brute_force_optimum(case, seed):
    space, moves = moves_of(case)
    evaluate = quadratic(seed, moves.m)
    feasible = all_feasible(space, moves)
    optimum = evaluate(feasible).max()
    for method in (cem, beam):
        result = method(evaluate, space, moves, 2000, np.random.default_rng(seed), checkpoints(2000))
        assert result.score == pytest.approx(optimum, abs=1e-12), method.__name__


@pytest.mark.parametrize("seed", range(3))
def test_cem_and_beam_find_optimum_of_larger_space(seed):
    space = KOfN(10, 4)
    moves = space.moves()
    evaluate = quadratic(seed, 10)
    optimum = evaluate(all_feasible(space, moves)).max()
    for method in (cem, beam):
        result = method(evaluate, space, moves, 3000, np.random.default_rng(seed), checkpoints(3000))
        assert result.score == pytest.approx(optimum, abs=1e-12), method.__name__


def test_cem_and_beam_beat_uniform_shooting_on_average():
    space = Binary(12)
    moves = space.moves()
    gaps = {random_shooting: [], cem: [], beam: []}
    for seed in range(5):
        evaluate = quadratic(seed, 12)
        optimum = evaluate(all_feasible(space, moves)).max()
        for method, gap in gaps.items():
            result = method(evaluate, space, moves, 500, np.random.default_rng(seed), checkpoints(500))
            gap.append(optimum - result.score)
    assert np.mean(gaps[cem]) < np.mean(gaps[random_shooting])
    assert np.mean(gaps[beam]) < np.mean(gaps[random_shooting])


# ----------------------------------------------------------------------------- random_shooting with a proposal


@pytest.mark.parametrize("case", ["binary6-masked", "kofn6-3-masked", "discrete-masked"])
def test_proposal_returning_the_optimum_finds_it_with_its_log_prob(case):
    space, moves = moves_of(case)
    evaluate = quadratic(7, moves.m)
    feasible = all_feasible(space, moves)
    best = feasible[np.argmax(evaluate(feasible))]
    action = space.decode(best)

    def proposal(count, rng):
        return np.repeat(action[None], count, axis=0), np.full(count, -0.25)

    result = random_shooting(evaluate, space, moves, 10, np.random.default_rng(0), checkpoints(10), proposal=proposal)
    np.testing.assert_array_equal(result.x, best)
    assert result.score == pytest.approx(evaluate(best[None])[0], rel=1e-12, abs=1e-12)
    assert result.log_prob == -0.25


def test_proposal_without_log_probs_reports_none():
    space, moves = moves_of("discrete")

    def proposal(count, rng):
        return rng.integers(0, space.nvec, size=(count, len(space.nvec)))

    result = random_shooting(
        quadratic(0, moves.m), space, moves, 9, np.random.default_rng(0), checkpoints(9), proposal=proposal, batch=4
    )
    assert result.log_prob is None and result.evaluations == 9


@pytest.mark.parametrize(
    "case, actions, match",
    [
        ("kofn6-2", [1, 1, 1, 0, 0, 0], "invalid actions: .*3 ones, expected k = 2"),
        ("binary6-masked", [0, 1, 0, 0, 0, 0], "invalid actions: .*bit 1 is set but masked"),
        ("discrete-masked", [1, 0, 0], "invalid actions: .*component 0 takes the masked value 1"),
        ("discrete", [0, 0], r"invalid actions: .*shape \(B, 3\)"),
    ],
)
def test_infeasible_proposal_raises(case, actions, match):
    space, moves = moves_of(case)

    def proposal(count, rng):
        return np.repeat(np.array([actions]), count, axis=0)

    with pytest.raises(ValueError, match=match):
        random_shooting(
            quadratic(0, moves.m), space, moves, 5, np.random.default_rng(0), checkpoints(5), proposal=proposal
        )


def test_proposal_returning_wrong_count_raises():
    space, moves = moves_of("binary6")
    with pytest.raises(ValueError, match="asked for 5 actions"):
        random_shooting(
            quadratic(0, 6),
            space,
            moves,
            5,
            np.random.default_rng(0),
            checkpoints(5),
            proposal=lambda count, rng: np.zeros((count + 1, 6), dtype=np.int8),
        )


# ----------------------------------------------------------------------------- options and validation


def test_beam_starts_from_init():
    space, moves = moves_of("kofn6-2")
    init = np.array([0, 0, 1, 0, 0, 1], dtype=np.int8)
    result = beam(quadratic(0, 6), space, moves, 1, np.random.default_rng(0), checkpoints(1), init=init)
    np.testing.assert_array_equal(result.x, init)
    with pytest.raises(ValueError, match="init is not feasible"):
        beam(quadratic(0, 6), space, moves, 1, np.random.default_rng(0), checkpoints(1), init=np.ones(6))


def test_cem_init_prob_concentrates_first_samples():
    space = Binary(8)
    seen = []

    def evaluate(X):
        seen.append(X.copy())
        return np.zeros(len(X))

    init = np.array([0.0, 1.0] * 4)
    cem(evaluate, space, space.moves(), 64, np.random.default_rng(0), checkpoints(64), init_prob=init)
    first = seen[0].mean(axis=0)
    assert (first[1::2] > 0.9).all() and (first[::2] < 0.1).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"elites": 0}, "elites must be an integer >= 1"),
        ({"elites": 65}, "elites must be between 1 and population"),
        ({"smoothing": 0.0}, "smoothing must be in"),
        ({"init_prob": np.ones(3)}, "init_prob must be a scalar or have shape"),
        ({"init_prob": 1.5}, "init_prob entries must be probabilities"),
    ],
)
def test_cem_validates_options(kwargs, match):
    space, moves = moves_of("binary6")
    with pytest.raises(ValueError, match=match):
        cem(quadratic(0, 6), space, moves, 10, np.random.default_rng(0), checkpoints(10), **kwargs)


def test_budget_and_evaluator_are_validated():
    space, moves = moves_of("binary6")
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        random_shooting(quadratic(0, 6), space, moves, 0, np.random.default_rng(0), checkpoints(1))
    with pytest.raises(ValueError, match=r"evaluate must return values of shape \(4,\)"):
        random_shooting(lambda X: np.zeros(3), space, moves, 4, np.random.default_rng(0), checkpoints(4))
