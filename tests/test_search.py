"""search: Quadratic landscapes, the xoshiro generator, and maximize, against tests/naive.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from search import METHODS, Binary, Quadratic, maximize
from search._jit import next_u64, randint, random_bits, rng_state, uniform
from search.landscapes import quad_fields, quad_flip, quad_value
from tests import naive

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
COEF = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


def random_problem(seed: int, n: int):
    """Raw ``(c, h, J)``: Gaussian, ``J`` not symmetric and with a nonzero diagonal."""
    rng = np.random.default_rng(seed)
    return float(rng.normal()), rng.normal(size=n), rng.normal(size=(n, n))


def random_quadratic(seed: int, n: int) -> Quadratic:
    return Quadratic(*random_problem(seed, n))


def scale(c, h, J) -> float:
    return 1.0 + abs(c) + np.abs(h).sum() + np.abs(J).sum()


@st.composite
def problems(draw, max_n: int = 8):
    """A raw quadratic ``(c, h, J)`` and a binary vector ``x``."""
    n = draw(st.integers(1, max_n))
    c = draw(COEF)
    h = np.array(draw(st.lists(COEF, min_size=n, max_size=n)))
    J = np.array(draw(st.lists(COEF, min_size=n * n, max_size=n * n))).reshape(n, n)
    x = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int8)
    return c, h, J, x


# ------------------------------------------------------------------------------- Quadratic


@SETTINGS
@given(problems())
def test_quadratic_value_matches_formula_on_raw_J(problem):
    c, h, J, x = problem
    q = Quadratic(c, h, J)
    want = naive.quadratic_value(c, h, J, x)
    tol = 1e-9 * scale(c, h, J)
    assert q(x) == pytest.approx(want, abs=tol)
    assert quad_value(q.c, q.h, q.J, x) == pytest.approx(want, abs=tol)


@SETTINGS
@given(problems())
def test_quadratic_is_stored_symmetric_with_zero_diagonal(problem):
    c, h, J, _ = problem
    q = Quadratic(c, h, J)
    np.testing.assert_array_equal(q.J, q.J.T)
    np.testing.assert_array_equal(np.diagonal(q.J), 0.0)


def test_quadratic_batch_call_matches_single_calls():
    c, h, J = random_problem(0, 6)
    q = Quadratic(c, h, J)
    xs = np.array(list(naive.all_actions(6)))
    want = [naive.quadratic_value(c, h, J, x) for x in xs]
    np.testing.assert_allclose(q(xs), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(q(xs.reshape(8, 8, 6)), np.reshape(want, (8, 8)), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(problems(), st.lists(st.integers(0, 10**6), min_size=1, max_size=40))
def test_flip_deltas_from_local_fields_match_recomputation(problem, picks):
    c, h, J, x = problem
    n = x.shape[0]
    q = Quadratic(c, h, J)
    tol = 1e-8 * scale(c, h, J)
    g = np.empty(n)
    quad_fields(q.h, q.J, x, g)
    for pick in picks:
        i = pick % n
        delta = (1 - 2 * x[i]) * g[i]
        assert delta == pytest.approx(naive.quadratic_flip_delta(c, h, J, x, i), abs=tol)
        before = x.copy()
        quad_flip(q.J, g, x, i)
        np.testing.assert_array_equal(x, naive.flipped(before, i))
        # every field stays right after the update, not only the one just used
        want = [(1 - 2 * x[j]) * naive.quadratic_flip_delta(c, h, J, x, j) for j in range(n)]
        np.testing.assert_allclose(g, want, rtol=0, atol=tol)


@pytest.mark.parametrize(
    "c, h, J",
    [
        (0.0, np.zeros((2, 2)), np.zeros((2, 2))),  # h not a vector
        (0.0, np.zeros(3), np.zeros((3, 2))),  # J not square
        (0.0, np.zeros(3), np.zeros((2, 2))),  # J does not match h
        (0.0, np.zeros(3), np.zeros(9)),  # J flat
        (np.nan, np.zeros(2), np.zeros((2, 2))),
        (0.0, np.array([0.0, np.nan]), np.zeros((2, 2))),
        (0.0, np.zeros(2), np.array([[0.0, np.nan], [0.0, 0.0]])),
        (0.0, np.zeros(2), np.array([[0.0, np.inf], [0.0, 0.0]])),
    ],
)
def test_quadratic_rejects_bad_shapes_and_non_finite_values(c, h, J):
    with pytest.raises(ValueError, match="Quadratic"):
        Quadratic(c, h, J)


def test_quadratic_call_rejects_wrong_length():
    q = random_quadratic(0, 4)
    with pytest.raises(ValueError, match="4"):
        q(np.zeros(5))


# ------------------------------------------------------------------------------------- RNG


def test_rng_same_seed_same_stream():
    a, b = rng_state(7), rng_state(7)
    np.testing.assert_array_equal(a, b)
    assert [next_u64(a) for _ in range(50)] == [next_u64(b) for _ in range(50)]


def test_rng_different_seeds_different_streams():
    a, b = rng_state(7), rng_state(8)
    assert [next_u64(a) for _ in range(5)] != [next_u64(b) for _ in range(5)]


def test_rng_rejects_non_integer_seed():
    for bad in (1.5, "3", None, True):
        with pytest.raises(ValueError, match="seed"):
            rng_state(bad)


def test_next_u64_matches_naive_xoshiro():
    state = rng_state(123)
    ref = naive.Xoshiro256ss(state.copy())
    for _ in range(200):
        assert int(next_u64(state)) == ref.next_u64()
    assert [int(v) for v in state] == ref.s


def test_uniform_and_randint_and_random_bits_match_naive():
    state = rng_state(5)
    ref = naive.Xoshiro256ss(state.copy())
    for _ in range(50):
        assert uniform(state) == ref.uniform()
    for k in (1, 2, 3, 10, 1000, 3 * 2**30, 2**32 - 1):
        for _ in range(20):
            assert int(randint(state, k)) == ref.randint(k)
    for n in (1, 63, 64, 65, 200):
        x = np.empty(n, dtype=np.int8)
        random_bits(state, x)
        np.testing.assert_array_equal(x, ref.random_bits(n))


@pytest.mark.parametrize("k", [1, 2, 3, 7, 10, 37])
def test_randint_in_range_and_roughly_uniform(k):
    state = rng_state(2024 + k)
    draws = 400 * k
    counts = np.zeros(k, dtype=np.int64)
    for _ in range(draws):
        v = int(randint(state, k))
        assert 0 <= v < k
        counts[v] += 1
    if k > 1:
        expected = draws / k
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        df = k - 1
        assert chi2 < df + 6.0 * np.sqrt(2.0 * df)  # ~6 standard deviations of a chi-square(df)


def test_randint_large_range_stays_in_range():
    state = rng_state(1)
    k = 3 * 2**30  # near the 2^32 limit and far from a power of two: rejection matters
    for _ in range(2000):
        assert 0 <= int(randint(state, k)) < k


def test_uniform_in_unit_interval_with_mean_one_half():
    state = rng_state(11)
    u = np.array([uniform(state) for _ in range(20000)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 6.0 * np.sqrt(1.0 / 12.0 / u.size)


def test_random_bits_are_roughly_fair():
    state = rng_state(3)
    x = np.empty(100_000, dtype=np.int8)
    random_bits(state, x)
    assert set(np.unique(x).tolist()) <= {0, 1}
    assert abs(x.mean() - 0.5) < 6.0 * 0.5 / np.sqrt(x.size)


# -------------------------------------------------------------------------------- maximize


@pytest.mark.parametrize("n", [1, 2, 5, 8, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exhaustive_equals_brute_force(n, seed):
    c, h, J = random_problem(100 * n + seed, n)
    best, argmax = naive.brute_force_max(lambda x: naive.quadratic_value(c, h, J, x), n)
    res = maximize(Quadratic(c, h, J), Binary(n), "exhaustive", None, seed=0)
    assert res.score == pytest.approx(best, abs=1e-9)
    assert naive.quadratic_value(c, h, J, res.action) == pytest.approx(best, abs=1e-9)
    assert any(np.array_equal(res.action, a) for a in argmax)
    assert res.evaluations == 2**n


def test_exhaustive_accepts_a_budget_above_two_to_the_n():
    q = random_quadratic(0, 6)
    res = maximize(q, Binary(6), "exhaustive", 1000, seed=0)
    assert res.evaluations == 64 and res.evaluations <= 1000
    assert res.score == maximize(q, Binary(6), "exhaustive", None, seed=0).score


def test_exhaustive_trace_reaches_its_last_evaluation():
    # the unique maximum x = e_5 is the last action in Gray-code order (code 63 ^ 31 = 32)
    n = 6
    h = -np.ones(n)
    h[5] = 1.0
    q = Quadratic(0.0, h, np.zeros((n, n)))
    for budget in (None, 1000):
        res = maximize(q, Binary(n), "exhaustive", budget, seed=0)
        assert res.score == 1.0 and res.evaluations == 64
        evals, best = res.trace
        assert evals[-1] == res.evaluations, f"budget={budget}: trace stops at {evals[-1]} evaluations"
        assert best[-1] == res.score


def test_exhaustive_rejects_a_budget_below_two_to_the_n():
    with pytest.raises(ValueError, match="budget"):
        maximize(random_quadratic(0, 6), Binary(6), "exhaustive", 63, seed=0)


@pytest.mark.parametrize("n", [25, 40, 63, 100])
def test_exhaustive_refuses_more_than_24_bits(n):
    q = Quadratic(0.0, np.zeros(n), np.zeros((n, n)))
    with pytest.raises(ValueError, match=r"\b24\b"):
        maximize(q, Binary(n), "exhaustive", None, seed=0)


def test_exhaustive_refusal_mentions_24_even_with_an_explicit_budget():
    n = 30
    q = Quadratic(0.0, np.zeros(n), np.zeros((n, n)))
    with pytest.raises(ValueError, match=r"\b24\b"):
        maximize(q, Binary(n), "exhaustive", 10**6, seed=0)


def test_exhaustive_and_anneal_report_the_same_score_for_the_same_action():
    # search gap = Q(a*) - Q(a_search) must be exactly 0 when both find the same action
    rng = np.random.default_rng(0)
    n = 16
    q = Quadratic(100 * rng.normal(), 100 * rng.normal(size=n), 100 * rng.normal(size=(n, n)))
    ex = maximize(q, Binary(n), "exhaustive", None, seed=0)
    sa = maximize(q, Binary(n), "anneal", 10**4, seed=0)
    np.testing.assert_array_equal(ex.action, sa.action)
    assert ex.score == sa.score
    assert ex.score == quad_value(q.c, q.h, q.J, ex.action)


@pytest.mark.parametrize("n", [8, 10, 12])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_anneal_finds_the_exhaustive_optimum(n, seed):
    q = random_quadratic(1000 * n + seed, n)
    best = maximize(q, Binary(n), "exhaustive", None, seed=0).score
    res = maximize(q, Binary(n), "anneal", 10**4, seed=seed)
    assert res.score == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("reset_seed", [0, 1, 2])
def test_anneal_finds_the_optimum_of_landscape_env(reset_seed):
    env = envs.make("standin/Landscape-v0", n=12, alpha=0.5)
    env.reset(seed=reset_seed)
    land = env.unwrapped.landscape()
    best = maximize(land, env.action_space, "exhaustive", None, seed=0)
    res = maximize(land, env.action_space, "anneal", 10**4, seed=reset_seed)
    assert res.score == pytest.approx(best.score, abs=1e-9)
    assert res.score == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(res.action, env.unwrapped.optimal_action())


BUDGET_CASES = [
    ("random", 1, {}),
    ("random", 2, {}),
    ("random", 37, {}),
    ("random", 5000, {}),
    ("anneal", 1, {}),
    ("anneal", 2, {}),
    ("anneal", 3, {"restarts": 3}),
    ("anneal", 37, {"restarts": 5}),
    ("anneal", 1000, {}),
    ("anneal", 1001, {"restarts": 7}),
    ("anneal", 12345, {"restarts": 10}),
    ("anneal", 500, {"restarts": 500}),
]


@pytest.mark.parametrize("method, budget, opts", BUDGET_CASES)
def test_budget_is_never_exceeded_and_trace_is_monotone(method, budget, opts):
    q = random_quadratic(budget, 20)
    res = maximize(q, Binary(20), method, budget, seed=budget, **opts)
    assert 1 <= res.evaluations <= budget
    evals, best = res.trace
    assert evals.shape == best.shape and evals.size >= 1
    assert np.all(np.diff(evals) > 0)
    assert evals[0] >= 1 and evals[-1] <= budget
    assert evals[-1] <= res.evaluations
    assert np.all(np.isfinite(best))
    assert np.all(np.diff(best) >= 0)
    assert best[-1] == pytest.approx(res.score, abs=1e-9)


@pytest.mark.parametrize("method, budget, opts", [("random", 500, {}), ("anneal", 2000, {"restarts": 3})])
def test_same_seed_gives_identical_result(method, budget, opts):
    q = random_quadratic(9, 30)
    a = maximize(q, Binary(30), method, budget, seed=42, **opts)
    b = maximize(q, Binary(30), method, budget, seed=42, **opts)
    np.testing.assert_array_equal(a.action, b.action)
    assert a.score == b.score and a.evaluations == b.evaluations
    np.testing.assert_array_equal(a.trace[0], b.trace[0])
    np.testing.assert_array_equal(a.trace[1], b.trace[1])


@pytest.mark.parametrize("method", ["random", "anneal"])
def test_different_seeds_give_different_trajectories(method):
    q = random_quadratic(9, 30)
    runs = [maximize(q, Binary(30), method, 200, seed=s) for s in range(5)]
    traces = {tuple(r.trace[1]) for r in runs}
    assert len(traces) > 1


def test_random_shooting_matches_naive_twin():
    c, h, J = random_problem(4, 13)
    res = maximize(Quadratic(c, h, J), Binary(13), "random", 300, seed=17)
    action, best = naive.random_shooting(lambda x: naive.quadratic_value(c, h, J, x), 13, 300, rng_state(17))
    np.testing.assert_array_equal(res.action, action)
    assert res.score == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize(
    "method, budget, opts",
    [
        ("exhaustive", None, {}),
        ("random", 300, {}),
        ("anneal", 300, {}),
        ("anneal", 3000, {"restarts": 4}),
    ],
)
def test_score_is_the_landscape_value_of_the_action(method, budget, opts):
    c, h, J = random_problem(5, 11)
    q = Quadratic(c, h, J)
    res = maximize(q, Binary(11), method, budget, seed=3, **opts)
    assert res.action.shape == (11,) and set(np.unique(res.action).tolist()) <= {0, 1}
    assert res.score == pytest.approx(q(res.action), abs=1e-9)
    assert res.score == pytest.approx(naive.quadratic_value(c, h, J, res.action), abs=1e-9)
    assert res.method == method


def test_anneal_init_is_used_when_budget_allows_no_moves():
    q = random_quadratic(0, 8)
    init = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    res = maximize(q, Binary(8), "anneal", 1, seed=0, init=init)
    np.testing.assert_array_equal(res.action, init)
    assert res.score == pytest.approx(q(init), abs=1e-12)


def test_maximize_accepts_gymnasium_multibinary():
    env = envs.make("standin/Landscape-v0", n=6)
    env.reset(seed=0)
    res = maximize(env.unwrapped.landscape(), env.action_space, "exhaustive", None, seed=0)
    assert res.action.shape == (6,)


def test_maximize_rejects_unknown_method():
    with pytest.raises(ValueError, match="bogus"):
        maximize(random_quadratic(0, 4), Binary(4), "bogus", 10, seed=0)
    assert "bogus" not in METHODS


@pytest.mark.parametrize("method", ["random", "anneal"])
@pytest.mark.parametrize("budget", [0, -5, None, 2.5, True])
def test_maximize_rejects_bad_budget(method, budget):
    with pytest.raises(ValueError, match="budget"):
        maximize(random_quadratic(0, 4), Binary(4), method, budget, seed=0)


def test_maximize_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="5 variables.*6"):
        maximize(random_quadratic(0, 5), Binary(6), "random", 10, seed=0)


@pytest.mark.parametrize(
    "method, opts, name",
    [
        ("random", {"restarts": 2}, "restarts"),
        ("exhaustive", {"t_hot": 1.0}, "t_hot"),
        ("anneal", {"temperature": 1.0}, "temperature"),
    ],
)
def test_maximize_rejects_unknown_option(method, opts, name):
    with pytest.raises(ValueError, match=name):
        maximize(random_quadratic(0, 4), Binary(4), method, 100, seed=0, **opts)


@pytest.mark.parametrize(
    "opts, name",
    [
        ({"restarts": 0}, "restarts"),
        ({"restarts": 101}, "restarts"),
        ({"t_hot": -1.0}, "t_hot"),
        ({"t_hot": 1.0, "t_cold": 2.0}, "t_cold"),
    ],
)
def test_anneal_rejects_bad_options(opts, name):
    with pytest.raises(ValueError, match=name):
        maximize(random_quadratic(0, 4), Binary(4), "anneal", 100, seed=0, **opts)


@pytest.mark.parametrize("init", [np.zeros(5), np.array([0, 1, 2, 0]), np.zeros((2, 2))])
def test_anneal_rejects_bad_init(init):
    with pytest.raises(ValueError, match="init"):
        maximize(random_quadratic(0, 4), Binary(4), "anneal", 100, seed=0, init=init)
