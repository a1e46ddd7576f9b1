"""search.maximize and maximize_batch, every method, against brute force and tests/naive.py: scores,
feasibility under masks, budgets and traces, seeds, exact against exhaustive, search quality, and
clear errors for bad input.

Landscapes of every form and feasible masks come from the builders in test_search_kernels.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standin import envs, search
from standin.search import (
    METHODS,
    MLP,
    OPTIONS,
    SAMPLING,
    Binary,
    Discrete,
    KOfN,
    Objective,
    Quadratic,
    as_space,
    maximize,
    maximize_batch,
)
from tests import naive
from tests.test_search_kernels import (
    FORMS,
    QUADRATIC_FORMS,
    REL,
    allowed_of,
    knapsack_delta,
    knapsack_value,
    make_landscape,
    masked_spaces,
    random_mask,
)

try:
    import highspy  # noqa: F401

    HAVE_HIGHS = True
except ImportError:
    HAVE_HIGHS = False
needs_highs = pytest.mark.skipif(not HAVE_HIGHS, reason="method 'exact' needs highspy")


def assert_feasible_action(space, mask, action):
    """``action`` has the space's native form and is feasible under ``mask``."""
    if isinstance(space, Discrete):
        assert action.dtype == np.int64 and action.shape == (len(space.nvec),)
        assert np.all((action >= 0) & (action < np.array(space.nvec)))
    else:
        assert action.dtype == np.int8 and action.shape == (space.n,)
    assert naive.is_feasible(space, allowed_of(space, mask), naive.encode(space, action)), action


# ================================================================== shared cases

#: The spaces every method is run on, each with a mask that leaves some bits out.
SPACES = {
    "binary": (Binary(9), [1, 1, 0, 1, 1, 1, 0, 1, 1]),
    "k-of-n": (KOfN(9, 3), [1, 0, 1, 1, 1, 1, 1, 0, 1]),
    "discrete": (Discrete((3, 2, 4)), [1, 0, 1, 1, 1, 1, 1, 0, 1]),
}
LOCAL = ("greedy", "anneal", "tabu")


def case_id(method: str, opts: dict) -> str:
    return "-".join([method] + [f"{key}={value}" for key, value in opts.items()])


def with_ids(cases) -> list:
    """``(method, opts)`` pairs as pytest params named after both; 'exact' needs highspy."""
    return [
        pytest.param(method, opts, id=case_id(method, opts), marks=[needs_highs] if method == "exact" else [])
        for method, opts in cases
    ]


def forms_for(method: str) -> tuple:
    if method == "exact":
        return QUADRATIC_FORMS
    return FORMS + (("batch",) if method in SAMPLING else ())


def budget_for(method: str, budget: int):
    return None if method in ("exhaustive", "exact") else budget


SCORE_CASES = [
    pytest.param(method, form, marks=[needs_highs] if method == "exact" else [])
    for method in METHODS
    for form in forms_for(method)
]


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("method, form", SCORE_CASES)
def test_score_is_the_landscape_value_of_a_feasible_returned_action(method, form, space_name):
    space, mask = SPACES[space_name]
    land, ref, mag = make_landscape(form, space.m, seed=len(form) + 31 * len(space_name))
    res = maximize(land, space, method, budget_for(method, 300), seed=1, mask=np.array(mask))
    assert res.method == method
    assert_feasible_action(space, mask, res.action)
    x = naive.encode(space, res.action)
    assert res.score == pytest.approx(ref(x), abs=REL * mag)
    assert res.score == pytest.approx(float(land(x)), abs=REL * mag)
    assert 1 <= res.evaluations <= (naive.feasible_count(space, mask) if method == "exhaustive" else 300)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=masked_spaces(), seed=st.integers(0, 2**32 - 1))
def test_every_method_returns_a_feasible_action_under_random_masks(case, seed):
    space, mask = case
    land, ref, mag = make_landscape("dense", space.m, seed)
    best, _ = naive.feasible_max(ref, space, allowed_of(space, mask))
    for method in METHODS:
        if method == "exact" and not HAVE_HIGHS:
            continue
        res = maximize(land, space, method, budget_for(method, 40), seed=seed, mask=mask)
        assert_feasible_action(space, mask, res.action)
        assert res.score == pytest.approx(ref(naive.encode(space, res.action)), abs=REL * mag)
        assert res.score <= best + 1e-6 * mag
        if method in ("exhaustive", "exact"):
            assert res.score == pytest.approx(best, abs=1e-6 * mag)


# ------------------------------------------------------------------ exhaustive and exact


EXHAUSTIVE_CASES = [
    (Binary(1), None),
    (Binary(2), [0, 1]),
    (Binary(8), None),
    (Binary(10), [1, 1, 0, 1, 1, 1, 0, 1, 1, 1]),
    (Binary(4), [0, 0, 0, 0]),
    (KOfN(8, 3), None),
    (KOfN(9, 4), [1, 1, 0, 1, 1, 1, 0, 1, 1]),
    (KOfN(6, 0), None),
    (KOfN(6, 6), None),
    (KOfN(5, 2), [0, 1, 0, 1, 0]),
    (Discrete((3, 2, 4)), None),
    (Discrete((3, 2, 4)), [1, 0, 1, 1, 1, 0, 1, 1, 0]),
    (Discrete((1,)), None),
    (Discrete((2, 2, 2, 2)), [1, 0, 1, 1, 0, 1, 1, 1]),
    (Discrete((5, 4)), [0, 0, 1, 0, 0, 1, 1, 0, 1]),
]


@pytest.mark.parametrize("form", ["dense", "low-rank", "mlp2", "objective"])
@pytest.mark.parametrize("space, mask", EXHAUSTIVE_CASES)
def test_exhaustive_equals_brute_force(space, mask, form):
    land, ref, mag = make_landscape(form, space.m, seed=space.m + len(form))
    allowed = allowed_of(space, mask)
    best, argmax = naive.feasible_max(ref, space, allowed)
    feasible = naive.feasible_encodings(space, allowed)
    res = maximize(land, space, "exhaustive", None, seed=0, mask=None if mask is None else np.array(mask))
    assert res.score == pytest.approx(best, abs=REL * mag)
    x = naive.encode(space, res.action)
    assert ref(x) == pytest.approx(best, abs=REL * mag)
    assert naive.is_feasible(space, allowed, x)
    assert res.evaluations == len(feasible) == naive.feasible_count(space, allowed)
    evals, trace = res.trace
    assert evals[-1] == res.evaluations and trace[-1] == pytest.approx(res.score, abs=REL * mag)


def test_exhaustive_accepts_a_budget_at_or_above_the_count_and_rejects_one_below():
    land, _, _ = make_landscape("dense", 6, seed=0)
    full = maximize(land, Binary(6), "exhaustive", None, seed=0)
    for budget in (64, 1000):
        res = maximize(land, Binary(6), "exhaustive", budget, seed=0)
        assert res.evaluations == 64 and res.score == full.score
    with pytest.raises(ValueError, match="exhaustive needs budget >= 64"):
        maximize(land, Binary(6), "exhaustive", 63, seed=0)
    with pytest.raises(ValueError, match="exhaustive needs budget >= 20"):
        maximize(land, KOfN(6, 3), "exhaustive", 19, seed=0)


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


def test_exhaustive_runs_on_a_large_space_masked_down_to_few_actions():
    n = 40
    land, ref, mag = make_landscape("low-rank", n, seed=1)
    mask = np.zeros(n, dtype=np.int8)
    mask[[0, 3, 7, 12, 20, 33, 39]] = 1
    res = maximize(land, Binary(n), "exhaustive", None, seed=0, mask=mask)
    assert res.evaluations == 2**7
    best, _ = naive.best_of(ref, _embed(naive.all_actions(7), mask))
    assert res.score == pytest.approx(best, abs=REL * mag)


def _embed(small, mask):
    """The encodings that set only the allowed bits of ``mask``, from every vector over those bits."""
    where = np.flatnonzero(mask)
    for bits in small:
        x = np.zeros(len(mask), dtype=np.int8)
        x[where] = bits
        yield x


EXACT_CASES = [
    (Binary(8), None),
    (Binary(12), "mask"),
    (Binary(20), None),
    (KOfN(10, 0), None),
    (KOfN(12, 12), None),
    (KOfN(14, 5), "mask"),
    (KOfN(18, 7), None),
    (Discrete((4, 4, 4, 4, 4)), None),
    (Discrete((5, 1, 3, 6)), "mask"),
]


@needs_highs
@pytest.mark.parametrize("form", ["dense", "low-rank", "dense+low-rank"])
@pytest.mark.parametrize("space, mask", EXACT_CASES)
def test_exact_equals_exhaustive(space, mask, form):
    land, _, mag = make_landscape(form, space.m, seed=space.m)
    mask = random_mask(space, space.m) if mask == "mask" else None
    ex = maximize(land, space, "exhaustive", None, seed=0, mask=mask)
    res = maximize(land, space, "exact", None, seed=0, mask=mask)
    assert res.info["proven"] is True and res.info["solver"]
    assert res.info["bound"] >= res.score - 1e-6 * mag and res.info["gap"] == pytest.approx(0.0, abs=1e-6 * mag)
    assert res.score == pytest.approx(ex.score, abs=1e-6 * mag)
    assert_feasible_action(space, mask, res.action)
    assert res.score == pytest.approx(float(land(naive.encode(space, res.action))), abs=REL * mag)
    assert res.evaluations == 1


@needs_highs
def test_exact_is_never_worse_than_its_init():
    space = KOfN(12, 4)
    land, _, _ = make_landscape("dense", 12, seed=5)
    best = maximize(land, space, "exhaustive", None, seed=0)
    res = maximize(land, space, "exact", None, seed=0, init=best.action, time_limit=5.0)
    assert res.score >= best.score - 1e-12


# ------------------------------------------------------------------ budget and trace


BUDGETS = (1, 2, 7, 37, 1001)
BUDGET_CASES = [
    ("random", {}),
    ("random", {"batch": 5}),
    ("greedy", {"improvement": "first"}),
    ("greedy", {"improvement": "best"}),
    ("anneal", {}),
    ("anneal", {"restarts": 3}),
    ("anneal", {"restarts": 7, "order": "random"}),
    ("tabu", {}),
    ("tabu", {"restarts": 3}),
    ("tabu", {"restarts": 7, "tenure": 0}),
    ("cem", {}),
    ("cem", {"population": 5, "elites": 2}),
    ("beam", {}),
    ("beam", {"width": 3}),
]


def check_trace(res, budget, mag):
    evals, best = res.trace
    assert evals.shape == best.shape and evals.size >= 1
    assert evals.dtype.kind == "i" and np.all(np.diff(evals) > 0)
    assert evals[0] >= 1 and evals[-1] <= res.evaluations <= budget
    assert np.all(np.isfinite(best)) and np.all(np.diff(best) >= 0)
    assert best[-1] <= res.score + REL * mag
    if res.evaluations == budget:
        assert evals[-1] == budget
        assert best[-1] == pytest.approx(res.score, abs=REL * mag)


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize(
    "method, opts, budget",
    [
        pytest.param(method, opts, budget, id=f"{case_id(method, opts)}-{budget}")
        for method, opts in BUDGET_CASES
        for budget in BUDGETS
        if opts.get("restarts", 1) <= budget
    ],
)
def test_budget_is_never_exceeded_and_trace_is_monotone(method, opts, budget, space_name):
    space, mask = SPACES[space_name]
    land, _, mag = make_landscape("dense", space.m, seed=budget)
    res = maximize(land, space, method, budget, seed=budget, mask=np.array(mask), **opts)
    assert 1 <= res.evaluations <= budget
    assert_feasible_action(space, mask, res.action)
    check_trace(res, budget, mag)


@pytest.mark.parametrize("form", ["dense", "sparse", "low-rank", "mlp2", "objective", "objective-plain"])
@pytest.mark.parametrize(
    "budget, restarts", [(1, 1), (3, 3), (11, 1), (12, 1), (13, 3), (37, 1), (37, 3), (1001, 3), (2500, 1)]
)
def test_anneal_budget_counts_the_temperature_walk(form, budget, restarts):
    """anneal spends evaluations on a random walk to size its temperatures, on every landscape."""
    space = Binary(20)
    land, _, mag = make_landscape(form, space.m, seed=budget)
    res = maximize(land, space, "anneal", budget, seed=0, restarts=restarts)
    assert res.evaluations == budget
    check_trace(res, budget, mag)


@pytest.mark.parametrize("budget", (1, 2, 7, 37, 1001))
@pytest.mark.parametrize("method", LOCAL)
def test_local_search_spends_its_whole_budget_when_there_is_something_to_search(method, budget):
    land, _, mag = make_landscape("dense", 20, seed=budget)
    res = maximize(land, Binary(20), method, budget, seed=0)
    assert res.evaluations == budget
    check_trace(res, budget, mag)


@pytest.mark.parametrize("method", LOCAL + ("random", "cem", "beam"))
def test_a_single_feasible_action_is_returned(method):
    space, mask = KOfN(5, 2), np.array([0, 1, 0, 1, 0])
    land, _, _ = make_landscape("dense", 5, seed=0)
    res = maximize(land, space, method, 50, seed=0, mask=mask)
    np.testing.assert_array_equal(res.action, mask)
    assert 1 <= res.evaluations <= 50


# ------------------------------------------------------------------ seeds


SEED_CASES = [
    ("exhaustive", {}),
    ("random", {}),
    ("greedy", {"improvement": "first"}),
    ("greedy", {"improvement": "best"}),
    ("anneal", {"restarts": 3}),
    ("tabu", {"restarts": 2}),
    ("cem", {}),
    ("beam", {}),
    ("exact", {}),
]
STOCHASTIC = [case for case in SEED_CASES if case[0] not in ("exhaustive", "exact")]
BIG_SPACES = {"binary": Binary(30), "k-of-n": KOfN(30, 10), "discrete": Discrete((4,) * 8)}


def same_bits(a, b):
    np.testing.assert_array_equal(a.action, b.action)
    assert a.action.dtype == b.action.dtype
    assert a.score == b.score and a.evaluations == b.evaluations
    np.testing.assert_array_equal(a.trace[0], b.trace[0])
    np.testing.assert_array_equal(a.trace[1], b.trace[1])


@pytest.mark.parametrize("space_name", list(BIG_SPACES))
@pytest.mark.parametrize("method, opts", with_ids(SEED_CASES))
def test_same_seed_gives_identical_bits(method, opts, space_name):
    space = SPACES[space_name][0] if method in ("exhaustive", "exact") else BIG_SPACES[space_name]
    land, _, _ = make_landscape("dense", space.m, seed=9)
    kw = {"time_limit": 10.0} if method == "exact" else {}
    a = maximize(land, space, method, budget_for(method, 500), seed=42, **opts, **kw)
    b = maximize(land, space, method, budget_for(method, 500), seed=42, **opts, **kw)
    same_bits(a, b)


@pytest.mark.parametrize("form", ["mlp2", "objective"])
@pytest.mark.parametrize("method, opts", with_ids(STOCHASTIC))
def test_same_seed_gives_identical_bits_on_other_landscapes(method, opts, form):
    space = KOfN(12, 4)
    land, _, _ = make_landscape(form, space.m, seed=9)
    same_bits(maximize(land, space, method, 300, seed=5, **opts), maximize(land, space, method, 300, seed=5, **opts))


@pytest.mark.parametrize("space_name", list(BIG_SPACES))
@pytest.mark.parametrize("method, opts", with_ids(STOCHASTIC))
def test_different_seeds_give_different_runs(method, opts, space_name):
    space = BIG_SPACES[space_name]
    land, _, _ = make_landscape("dense", space.m, seed=9)
    runs = [maximize(land, space, method, 200, seed=s, **opts) for s in range(5)]
    assert len({(r.action.tobytes(), tuple(r.trace[1])) for r in runs}) > 1


# ------------------------------------------------------------------ maximize_batch


@pytest.mark.parametrize(
    "method, opts", [("anneal", {"restarts": 2}), ("tabu", {}), ("greedy", {}), ("random", {}), ("cem", {})]
)
def test_maximize_batch_equals_maximize_with_derived_seeds_for_any_worker_count(method, opts):
    from standin.search.jit import derive_seed

    space = KOfN(10, 3)
    lands = [make_landscape("dense", 10, seed=s)[0] for s in range(5)]
    masks = [random_mask(space, s) for s in range(5)]
    want = [
        maximize(land, space, method, 400, seed=derive_seed(7, b), mask=masks[b], **opts)
        for b, land in enumerate(lands)
    ]
    for workers in (1, 2):
        got = maximize_batch(lands, space, method, 400, seed=7, masks=masks, workers=workers, **opts)
        assert len(got) == len(lands)
        for g, w in zip(got, want, strict=True):
            same_bits(g, w)
    assert maximize_batch([], space, method, 400, seed=7) == []


@pytest.mark.parametrize("form", ["dense", "sparse", "low-rank", "dense+low-rank", "mlp2"])
@pytest.mark.parametrize("method, opts", [("anneal", {}), ("anneal", {"restarts": 3, "t_hot": 2.0, "t_cold": 0.1}),
                                          ("greedy", {"improvement": "best"}), ("tabu", {"restarts": 2})])
def test_a_fused_batch_equals_single_searches_bit_for_bit(form, method, opts):
    """Landscapes of one form and size under one mask go to the kernel stacked, in one call per
    thread; each result is the single search's with the derived seed: action, score, evaluations and
    trace."""
    from standin.search.jit import derive_seed

    for space_name, (space, mask) in SPACES.items():
        lands = [make_landscape(form, space.m, seed=10 * s + len(space_name))[0] for s in range(7)]
        for masks in (None, [np.array(mask)] * len(lands)):
            want = [maximize(land, space, method, 300, seed=derive_seed(3, b),
                             mask=None if masks is None else masks[b], **opts) for b, land in enumerate(lands)]
            for workers in (1, 2):
                got = maximize_batch(lands, space, method, 300, seed=3, masks=masks, workers=workers, **opts)
                assert type(got).__name__ == "BatchResult" and len(got) == len(lands)
                np.testing.assert_array_equal(got.scores, [w.score for w in want])
                np.testing.assert_array_equal(got.evaluations, [w.evaluations for w in want])
                for g, w in zip(got, want, strict=True):
                    same_bits(g, w)


def test_maximize_batch_derives_different_seeds_per_landscape():
    land = make_landscape("dense", 30, seed=0)[0]
    got = maximize_batch([land] * 4, Binary(30), "random", 50, seed=1, workers=2)
    assert len({r.action.tobytes() for r in got}) > 1


def test_maximize_batch_rejects_bad_masks_and_workers():
    space = Binary(4)
    lands = [make_landscape("dense", 4, seed=s)[0] for s in range(3)]
    with pytest.raises(ValueError, match="got 2 masks for 3 landscapes"):
        maximize_batch(lands, space, "random", 10, seed=0, masks=[None, None])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be a positive integer"):
            maximize_batch(lands, space, "random", 10, seed=0, workers=bad)


# ------------------------------------------------------------------ quality


QUALITY_SPACES = {"binary": Binary(12), "k-of-n": KOfN(12, 4), "discrete": Discrete((3, 3, 3, 3))}
QUALITY_METHODS = [
    ("anneal", {}),
    ("tabu", {}),
    ("greedy", {"improvement": "first"}),
    ("greedy", {"improvement": "best"}),
]


@pytest.mark.parametrize("space_name", list(QUALITY_SPACES))
@pytest.mark.parametrize("method, opts", with_ids(QUALITY_METHODS))
def test_local_search_usually_reaches_the_exhaustive_optimum(method, opts, space_name):
    space = QUALITY_SPACES[space_name]
    instances = 10
    hits = 0
    for seed in range(instances):
        land, _, mag = make_landscape("dense", space.m, seed=1000 + seed)
        best = maximize(land, space, "exhaustive", None, seed=0).score
        res = maximize(land, space, method, 2000, seed=seed, **opts)
        assert res.score <= best + REL * mag
        hits += res.score >= best - REL * mag
    assert hits / instances >= 0.8, f"{method} {opts} reached the optimum on {hits} of {instances} instances"


@pytest.mark.parametrize("space_name", list(QUALITY_SPACES))
@pytest.mark.parametrize("method", ["random", "greedy", "anneal", "tabu"])
def test_a_proposal_of_the_optimum_is_found(method, space_name):
    """3 evaluations, among 81 to 4096 actions: the proposal, not luck, finds the optimum."""
    space = QUALITY_SPACES[space_name]
    land, _, mag = make_landscape("dense", space.m, seed=4)
    best = maximize(land, space, "exhaustive", None, seed=0)
    calls = []

    def proposal(count, rng):
        calls.append(count)
        return np.repeat(best.action[None], count, axis=0)

    res = maximize(land, space, method, 3, seed=0, proposal=proposal)
    assert calls
    np.testing.assert_array_equal(res.action, best.action)
    assert res.score == pytest.approx(best.score, abs=REL * mag)


def test_random_reports_the_log_prob_of_the_best_proposal():
    space = Binary(6)
    land, ref, _ = make_landscape("dense", 6, seed=2)
    actions = np.array(list(naive.all_actions(6)))
    values = np.array([ref(x) for x in actions])

    def proposal(count, rng):
        rows = rng.integers(0, len(actions), size=count)
        return actions[rows], -rows.astype(np.float64)

    res = maximize(land, space, "random", 500, seed=0, proposal=proposal)
    row = int(np.argmax(values))
    np.testing.assert_array_equal(res.action, actions[row])
    assert res.info["log_prob"] == -row


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


# ------------------------------------------------------------------ structured problems with a known optimum


def ising(n, rows, cols, J) -> Quadratic:
    """``−Σ_e J_e s_i s_j`` over spins ``s = 2x − 1``, as a sparse Quadratic in ``x`` (maximised)."""
    rows, cols, J = np.asarray(rows), np.asarray(cols), np.asarray(J, dtype=np.float64)
    h = np.bincount(rows, weights=2 * J, minlength=n) + np.bincount(cols, weights=2 * J, minlength=n)
    return Quadratic.from_edges(-J.sum(), h, rows, cols, -4 * J)


def planted(n, rows, cols, weights, seed) -> tuple[Quadratic, float]:
    """An Ising problem whose ground state is a random spin state ``t`` (a ferromagnet seen through
    the gauge ``s → t s``: no bond is frustrated), and its optimum ``Σ|w|``."""
    t = np.random.default_rng(seed).choice([-1.0, 1.0], size=n)
    rows, cols = np.asarray(rows), np.asarray(cols)
    return ising(n, rows, cols, -np.asarray(weights) * t[rows] * t[cols]), float(np.sum(np.abs(weights)))


def grid_edges(side):
    idx = np.arange(side * side).reshape(side, side)
    return (np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()]),
            np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()]))


def known_optimum_cases():
    """Structured families with a known optimum: a planted 10×10 grid with weights 1–3, a planted
    chain of 40 unit bonds, and max-cut on a random bipartite graph (every edge cut)."""
    rng = np.random.default_rng(0)
    rows, cols = grid_edges(10)
    grid = planted(100, rows, cols, rng.integers(1, 4, rows.size), seed=1)
    chain = planted(40, np.arange(39), np.arange(1, 40), np.ones(39), seed=2)
    n = 120
    side = rng.integers(0, 2, n)
    iu = np.triu_indices(n, 1)
    keep = (side[iu[0]] != side[iu[1]]) & (rng.random(iu[0].size) < 0.1)
    r, c = iu[0][keep], iu[1][keep]
    h = np.bincount(r, minlength=n) + np.bincount(c, minlength=n)
    cut = Quadratic.from_edges(0.0, h.astype(float), r, c, -2.0 * np.ones(r.size))
    return {"planted grid": (*grid, 1000), "planted chain": (*chain, 10000), "bipartite max-cut": (cut, r.size, 100)}


@pytest.mark.parametrize("method", ["anneal", "tabu"])
@pytest.mark.parametrize("case", ["planted grid", "planted chain", "bipartite max-cut"])
def test_anneal_and_tabu_find_known_ground_states_of_structured_problems(method, case):
    """With the default settings and the budget named per case (sweeps of n evaluations), every one
    of 5 seeds reaches the optimum: the schedule fits integer-weighted sparse problems too."""
    q, optimum, sweeps = known_optimum_cases()[case]
    for seed in range(5):
        assert maximize(q, q.m, method, sweeps * q.m, seed=seed).score == pytest.approx(optimum, abs=1e-9)


def test_anneal_temperatures_come_from_the_changes_a_run_meets():
    """Max-cut with unit weights on a random graph of degree about 48: a flip changes the cut by at
    most the degree and, at a typical state, by a few times its square root, in steps of 1 or 2. The
    measured range starts near the changes seen and ends where a change of 2 is rare; the bounds from
    the coefficients start 10× hotter and end where a change of 2 is accepted most of the time."""
    from standin.search.anneal import sampled_temperature_range, temperature_range

    rng = np.random.default_rng(0)
    n = 400
    iu = np.triu_indices(n, 1)
    keep = rng.random(iu[0].size) < 0.12
    r, c = iu[0][keep], iu[1][keep]
    deg = np.bincount(r, minlength=n) + np.bincount(c, minlength=n)
    q = Quadratic.from_edges(0.0, deg.astype(float), r, c, -2.0 * np.ones(r.size))
    moves = Binary(n).moves()
    hot, cold = sampled_temperature_range(q, moves, 200, search.jit.rng_state(0))
    bound_hot, bound_cold = temperature_range(q, moves)
    assert hot * np.log(2) <= deg.max() and hot > 3 * np.sqrt(deg.mean()) / np.log(2) / 2
    assert np.exp(-2.0 / cold) <= 0.01 + 1e-12  # a change of 2 is accepted at most 1% of the time at the end
    assert bound_hot > 10 * hot and np.exp(-2.0 / bound_cold) > 0.5
    # and at equal sweeps the measured range finds the better cut
    measured = maximize(q, n, "anneal", 200 * n, seed=0).score
    bounded = maximize(q, n, "anneal", 200 * n, seed=0, t_hot=bound_hot, t_cold=bound_cold).score
    assert measured > 1.05 * bounded


# ------------------------------------------------------------------ init, masks and spaces


@pytest.mark.parametrize("method", ["greedy", "anneal", "tabu", "beam"])
@pytest.mark.parametrize("space_name", list(SPACES))
def test_init_is_the_first_state(method, space_name):
    space, mask = SPACES[space_name]
    allowed = allowed_of(space, mask)
    land, ref, mag = make_landscape("dense", space.m, seed=3)
    x = naive.feasible_encodings(space, allowed)[-1]
    init = naive.decode(space, x)
    res = maximize(land, space, method, 1, seed=0, init=init, mask=np.array(mask))
    np.testing.assert_array_equal(res.action, init)
    assert res.score == pytest.approx(ref(x), abs=REL * mag)


def test_gymnasium_spaces_and_mask_forms_are_accepted():
    gym = pytest.importorskip("gymnasium")
    assert as_space(gym.spaces.MultiBinary(5)) == Binary(5)
    assert as_space(gym.spaces.MultiDiscrete([3, 2])) == Discrete((3, 2))
    assert as_space(7) == Binary(7)
    k_of_n = gym.spaces.MultiBinary(6)
    k_of_n.k = 2
    assert as_space(k_of_n) == KOfN(6, 2)
    land, _, _ = make_landscape("dense", 5, seed=0)
    res = maximize(
        land, gym.spaces.MultiDiscrete([3, 2]), "exhaustive", None, seed=0, mask=(np.array([1, 0, 1]), np.array([0, 1]))
    )
    assert res.action[1] == 1 and res.action[0] in (0, 2) and res.evaluations == 2
    # an equal-size MultiDiscrete also takes a (C, V) mask
    land, _, _ = make_landscape("dense", 6, seed=0)
    res = maximize(land, Discrete((3, 3)), "exhaustive", None, seed=0, mask=np.array([[1, 1, 0], [0, 0, 1]]))
    assert res.action[0] in (0, 1) and res.action[1] == 2 and res.evaluations == 2


# ================================================================== bad input


def q4():
    return make_landscape("dense", 4, seed=0)[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"c": np.nan, "h": np.zeros(2), "J": np.zeros((2, 2))},
        {"c": 0.0, "h": np.array([0.0, np.inf]), "J": np.zeros((2, 2))},
        {"c": 0.0, "h": np.zeros(2), "J": np.array([[0.0, np.nan], [0.0, 0.0]])},
        {"c": 0.0, "h": np.zeros(2), "J": np.array([[0.0, -np.inf], [0.0, 0.0]])},
        {"c": 0.0, "h": np.zeros(2), "U": np.array([[np.nan], [0.0]]), "sigma": np.ones(1)},
        {"c": 0.0, "h": np.zeros(2), "U": np.ones((2, 1)), "sigma": np.array([np.inf])},
    ],
)
def test_quadratic_rejects_non_finite_coefficients(kwargs):
    with pytest.raises(ValueError, match=r"Quadratic: coefficients must be finite \(found NaN or inf\)"):
        Quadratic(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"c": 0.0, "h": np.zeros((2, 2))}, "h must be a vector"),
        ({"c": 0.0, "h": np.zeros(3), "J": np.zeros((3, 2))}, r"J must have shape \(3, 3\)"),
        ({"c": 0.0, "h": np.zeros(3), "J": np.zeros((2, 2))}, r"J must have shape \(3, 3\)"),
        ({"c": 0.0, "h": np.zeros(3), "J": np.zeros(9)}, r"J must have shape \(3, 3\)"),
        ({"c": 0.0, "h": np.zeros(3), "U": np.zeros((2, 1)), "sigma": np.ones(1)}, r"U must have shape \(3, r\)"),
        ({"c": 0.0, "h": np.zeros(3), "U": np.zeros((3, 2)), "sigma": np.ones(3)}, r"sigma must have shape \(2,\)"),
        ({"c": 0.0, "h": np.zeros(3), "U": np.zeros((3, 2))}, "give both U and sigma"),
    ],
)
def test_quadratic_rejects_bad_shapes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Quadratic(**kwargs)


@pytest.mark.parametrize(
    "weights, biases, message",
    [
        ([np.array([[np.nan, 0.0]])], [np.zeros(1)], "finite"),
        ([np.ones((1, 2))], [np.array([np.inf])], "finite"),
        ([np.ones((3, 2)), np.array([[1.0, np.inf, 0.0]])], [np.zeros(3), np.zeros(1)], "finite"),
        ([np.ones((3, 2)), np.ones((1, 4))], [np.zeros(3), np.zeros(1)], "layer 1 takes 4 inputs but layer 0 gives 3"),
        ([np.ones((3, 2))], [np.zeros(3)], "last layer must have one output"),
        ([np.ones((1, 2))], [np.zeros(2)], r"layer 0 has weight \(1, 2\) and bias \(2,\)"),
        ([np.ones((1, 2))], [], "one bias per layer"),
        ([], [], "at least one layer"),
    ],
)
def test_mlp_rejects_bad_layers(weights, biases, message):
    with pytest.raises(ValueError, match=message):
        MLP(weights, biases)


def test_objective_rejects_bad_functions_and_sizes():
    with pytest.raises(ValueError, match="delta, update and init together"):
        Objective(knapsack_value, 3, (), delta=knapsack_delta)
    with pytest.raises(ValueError, match="value must be a numba.njit function"):
        Objective(lambda x, p: 0.0, 3)
    with pytest.raises(ValueError, match="m must be a positive integer"):
        Objective(knapsack_value, 0)


@pytest.mark.parametrize(
    "land, space",
    [
        (make_landscape("dense", 5, seed=0)[0], Binary(6)),
        (make_landscape("low-rank", 9, seed=0)[0], KOfN(8, 2)),
        (make_landscape("mlp2", 6, seed=0)[0], Discrete((3, 2, 2))),
        (make_landscape("objective", 4, seed=0)[0], 5),
        (make_landscape("batch", 4, seed=0)[0], Binary(3)),
    ],
)
def test_maximize_rejects_a_landscape_that_does_not_match_the_space(land, space):
    with pytest.raises(ValueError, match=rf"landscape has {land.m} variables but the space .* encodes to \d+"):
        maximize(land, space, "random", 10, seed=0)


@pytest.mark.parametrize("method", ["random", "greedy", "anneal", "tabu", "cem", "beam"])
@pytest.mark.parametrize("budget", [0, -5, None, 2.5, True, "10", np.float64(3.0)])
def test_maximize_rejects_bad_budget(method, budget):
    with pytest.raises(ValueError, match="budget must be a positive integer"):
        maximize(q4(), Binary(4), method, budget, seed=0)


def test_maximize_accepts_numpy_integer_budget():
    assert maximize(q4(), Binary(4), "random", np.int64(5), seed=0).evaluations == 5


def test_maximize_rejects_unknown_method_and_lists_the_known_ones():
    with pytest.raises(ValueError, match=re.escape("unknown method 'bogus'; choose from " + ", ".join(METHODS))):
        maximize(q4(), Binary(4), "bogus", 10, seed=0)
    assert set(METHODS) == {"exhaustive", "random", "greedy", "anneal", "tabu", "cem", "beam", "exact"}


@pytest.mark.parametrize(
    "method, opts",
    [
        ("random", {"restarts": 2}),
        ("exhaustive", {"t_hot": 1.0}),
        ("anneal", {"temperature": 1.0}),
        ("tabu", {"width": 3}),
        ("greedy", {"tenure": 3}),
        ("cem", {"batch": 3}),
        ("beam", {"population": 3}),
        ("exact", {"restarts": 2}),
    ],
)
def test_maximize_rejects_unknown_option(method, opts):
    name = next(iter(opts))
    allowed = ", ".join(OPTIONS[method]) or "none"
    message = f"unknown option(s) ['{name}'] for method '{method}'; allowed: {allowed}"
    with pytest.raises(ValueError, match=re.escape(message)):
        maximize(q4(), Binary(4), method, 100, seed=0, **opts)


@pytest.mark.parametrize(
    "method, opts, message",
    [
        ("anneal", {"restarts": 0}, "restarts must be an integer in 1..budget"),
        ("anneal", {"restarts": 101}, "restarts must be an integer in 1..budget"),
        ("anneal", {"t_hot": -1.0}, "need 0 < t_cold <= t_hot"),
        ("anneal", {"t_hot": 1.0, "t_cold": 2.0}, "need 0 < t_cold <= t_hot"),
        ("anneal", {"order": "spiral"}, "order must be one of"),
        ("tabu", {"restarts": 0}, "restarts must be an integer in 1..budget"),
        ("tabu", {"tenure": -1}, "tenure must be a non-negative integer"),
        ("greedy", {"improvement": "worst"}, "improvement must be one of"),
        ("cem", {"elites": 10, "population": 5}, "elites must be between 1 and population"),
        ("cem", {"smoothing": 0.0}, r"smoothing must be in \(0, 1\]"),
        ("beam", {"width": 0}, "width must be an integer >= 1"),
        ("random", {"batch": 0}, "batch must be an integer >= 1"),
    ],
)
def test_methods_reject_bad_options(method, opts, message):
    with pytest.raises(ValueError, match=message):
        maximize(q4(), Binary(4), method, 100, seed=0, **opts)


@pytest.mark.parametrize(
    "space, mask, message",
    [
        (Binary(4), np.ones(5), r"mask for Binary\(n=4\) must have shape \(4,\), got \(5,\)"),
        (Binary(4), np.ones((2, 2)), r"must have shape \(4,\), got \(2, 2\)"),
        (Binary(4), np.array([1, 2, 0, 1]), r"mask entries must be 0 or 1 \(1 = may be set\), found \[2\]"),
        (KOfN(4, 2), np.array([1, 0, 1, -1]), r"mask entries must be 0 or 1 \(1 = may be set\), found \[-1\]"),
        (KOfN(4, 3), np.array([1, 0, 1, 0]), "the mask allows 2 items, fewer than k = 3"),
        (KOfN(4, 1), np.zeros(4), "the mask allows 0 items, fewer than k = 1"),
        (Discrete((2, 2)), np.array([1, 1, 0, 0]), "the mask allows no value for component 1"),
        (Discrete((2, 2)), (np.ones(2), np.ones(3)), r"mask component 1 for .* must have shape \(2,\), got \(3,\)"),
        (Discrete((2, 2)), (np.ones(2),), "must have 2 components, got 1"),
        (Discrete((2, 2)), (np.ones(2), np.array([0.5, 1.0])), "mask entries must be 0 or 1"),
    ],
)
def test_maximize_rejects_bad_masks(space, mask, message):
    land = make_landscape("dense", space.m, seed=0)[0]
    for method in ("random", "anneal", "exhaustive"):
        with pytest.raises(ValueError, match=message):
            maximize(land, space, method, 100, seed=0, mask=mask)


@pytest.mark.parametrize(
    "space, mask, init, message",
    [
        (Binary(4), np.array([1, 1, 0, 1]), np.array([0, 0, 1, 0]), "init sets a masked component"),
        (Discrete((2, 3)), np.array([1, 1, 1, 0, 1]), np.array([0, 1]), "init sets a masked component"),
        (KOfN(4, 2), None, np.array([1, 1, 1, 0]), "exactly 2 ones"),
        (Binary(4), None, np.array([0, 1, 2, 0]), r"0/1 vector of shape \(4,\)"),
        (Binary(4), None, np.zeros(5), r"0/1 vector of shape \(4,\)"),
        (Discrete((2, 3)), None, np.array([0, 3]), r"0 <= a\[c\] < nvec\[c\]"),
    ],
)
def test_maximize_rejects_infeasible_init(space, mask, init, message):
    land = make_landscape("dense", space.m, seed=0)[0]
    for method in ("greedy", "anneal", "tabu", "beam"):
        with pytest.raises(ValueError, match=message):
            maximize(land, space, method, 100, seed=0, init=init, mask=mask)


def test_maximize_rejects_init_and_proposal_for_methods_that_ignore_them():
    init = np.zeros(4, dtype=np.int8)
    with pytest.raises(ValueError, match="init is used by greedy, anneal, tabu, beam and exact, not 'random'"):
        maximize(q4(), Binary(4), "random", 10, seed=0, init=init)
    with pytest.raises(ValueError, match="proposal is used by random, greedy, anneal and tabu, not 'cem'"):
        maximize(q4(), Binary(4), "cem", 10, seed=0, proposal=lambda count, rng: np.zeros((count, 4)))
    with pytest.raises(ValueError, match=r"proposal must be callable as proposal\(count, rng\)"):
        maximize(q4(), Binary(4), "random", 10, seed=0, proposal=np.zeros((10, 4)))


@pytest.mark.parametrize("method", ["random", "greedy", "anneal", "tabu"])
@pytest.mark.parametrize(
    "space, mask, rows, message",
    [
        (Binary(4), np.array([1, 0, 1, 1]), [[0, 1, 0, 0]], "infeasible encoding in row 0: bit 1 is set but masked"),
        (KOfN(4, 2), None, [[1, 1, 1, 0]], "infeasible encoding in row 0: 3 ones, expected k = 2"),
        (Discrete((2, 3)), np.array([1, 1, 0, 1, 1]), [[1, 0]], "component 1 takes the masked value 0"),
        (Discrete((2, 3)), None, [[0, 3]], "out of range"),
        (Binary(4), None, [[0, 1, 2, 0]], "entries other than 0 and 1"),
    ],
)
def test_maximize_rejects_a_proposal_of_infeasible_actions(method, space, mask, rows, message):
    land = make_landscape("dense", space.m, seed=0)[0]
    rows = np.array(rows)

    def proposal(count, rng):
        return rows[np.arange(count) % len(rows)]

    with pytest.raises(ValueError, match="proposal returned invalid actions: .*" + message):
        maximize(land, space, method, 100, seed=0, proposal=proposal, mask=mask)


def test_maximize_rejects_a_proposal_of_the_wrong_count():
    with pytest.raises(ValueError, match="proposal was asked for"):
        maximize(q4(), Binary(4), "random", 10, seed=0, proposal=lambda count, rng: np.zeros((count + 1, 4)))


@pytest.mark.parametrize("space", [Binary(33), Binary(64), KOfN(40, 20), Discrete((16,) * 9)])
def test_exhaustive_refuses_more_than_two_to_the_32_actions(space):
    land = make_landscape("low-rank", space.m, seed=0)[0]
    for budget in (None, 10**12):
        with pytest.raises(ValueError, match=r"exhaustive search would enumerate \d+ actions, more than 2\^32"):
            maximize(land, space, "exhaustive", budget, seed=0)


@pytest.mark.parametrize("method", ["exhaustive", "greedy", "anneal", "tabu", "exact"])
def test_batch_landscape_is_only_searched_by_sampling_methods(method):
    land = make_landscape("batch", 4, seed=0)[0]
    message = f"a Batch landscape can only be searched by {', '.join(SAMPLING)}, not '{method}'"
    with pytest.raises(ValueError, match=message):
        maximize(land, Binary(4), method, 100, seed=0)


@pytest.mark.parametrize("form", ["mlp2", "objective"])
def test_exact_needs_a_quadratic(form):
    land = make_landscape(form, 4, seed=0)[0]
    with pytest.raises(ValueError, match=f"'exact' needs a Quadratic landscape, got {type(land).__name__}"):
        maximize(land, Binary(4), "exact", None, seed=0)


def test_maximize_rejects_unsupported_landscapes_and_spaces():
    with pytest.raises(ValueError, match="unsupported landscape type ndarray"):
        maximize(np.zeros(4), Binary(4), "random", 10, seed=0)
    with pytest.raises(ValueError, match="does not support the action space"):
        maximize(q4(), "MultiBinary(4)", "random", 10, seed=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        maximize(q4(), Binary(4), "anneal", 10, seed=1.5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Binary(0), r"Binary: n must be an integer >= 1"),
        (lambda: KOfN(3, 4), r"KOfN: k must be in 0..n \(3\), got 4"),
        (lambda: KOfN(3, -1), r"KOfN: k must be an integer >= 0"),
        (lambda: Discrete(()), "nvec must have at least one component"),
        (lambda: Discrete((2, 0)), r"nvec entries must be an integer >= 1"),
    ],
)
def test_spaces_reject_bad_sizes(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_beam_from_move_deltas_matches_beam_from_full_evaluations():
    """The delta path (jitted landscapes) and the batch path (any landscape) are one algorithm."""
    from standin.search import sampling
    from standin.search.landscapes import evaluator, move_evaluator
    from standin.search.trace import checkpoints

    rng = np.random.default_rng(3)
    for space in (search.Binary(10), search.KOfN(9, 3), search.Discrete((3, 2, 4))):
        q = search.Quadratic(0.1, rng.normal(size=space.m), rng.normal(size=(space.m, space.m)))
        moves = space.moves(None)
        runs = [
            sampling.beam(evaluator(q), space, moves, 300, np.random.default_rng(5), checkpoints(300), width=4,
                          move_values=mv)
            for mv in (None, move_evaluator(q))
        ]
        np.testing.assert_array_equal(runs[0].x, runs[1].x)
        assert runs[0].evaluations == runs[1].evaluations
        np.testing.assert_allclose(runs[0].score, runs[1].score, rtol=1e-9)
        np.testing.assert_allclose(runs[0].trace, runs[1].trace, rtol=1e-9)


# ------------------------------------------------------------------ cached kernel dispatch


def test_arg_key_separates_what_numba_types_differently():
    from standin.search.jit import arg_key

    a = np.zeros((3, 4))
    keys = {
        arg_key(a), arg_key(np.asfortranarray(a)), arg_key(a[:, ::2]), arg_key(a.astype(np.float32)),
        arg_key(np.zeros(12)), arg_key(2**63), arg_key(1), arg_key(1.0), arg_key(True), arg_key(None),
    }
    readonly = a.copy()
    readonly.flags.writeable = False
    keys.add(arg_key(readonly))
    assert len(keys) == 11
    assert arg_key((a, 1.0)) == arg_key((np.ones((3, 4)), 2.0))
    assert arg_key(object()) is None and arg_key((a, object())) is None


def test_cached_entry_points_give_numba_dispatch_results():
    """A kernel called through its cached entry point, with arguments of several layouts, agrees
    with numba's own dispatch (a mismatched key would misread the arrays)."""
    from standin.search.jit import kernel

    @kernel
    def weighted(data, x):
        total = 0.0
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                total += data[0][i, j] * x[i, j] * data[1]
        return total

    rng = np.random.default_rng(0)
    for _ in range(3):  # the second and third rounds use cached entry points
        for layout in (lambda m: m, np.asfortranarray, lambda m: m[:, ::-1]):
            w, x = layout(rng.standard_normal((4, 5))), layout(rng.standard_normal((4, 5)))
            want = weighted.fast.py_func((w, 0.5), x)
            assert weighted((w, 0.5), x) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("pair", (False, True))
@pytest.mark.parametrize("seed", range(4))
def test_low_rank_temperature_scale_matches_the_coefficient_bounds(seed, pair):
    """The jitted one-pass scale of a low-rank quadratic equals the readable one built from
    ``flip_bounds`` and ``corner_deltas`` (the path every other form takes)."""
    from standin.search.anneal import _low_rank_scale

    rng = np.random.default_rng(seed)
    m, r = int(rng.integers(2, 40)), int(rng.integers(1, 12))
    q = Quadratic.low_rank(0.3, rng.normal(size=m), rng.normal(size=(m, r)), rng.normal(size=r))
    allowed = (rng.random(m) < 0.7).astype(np.int8)
    allowed[0] = 1
    bounds = np.sort(q.flip_bounds()[allowed != 0])[::-1]
    top1, top2 = bounds[0], (bounds[1] if pair and bounds.size > 1 else 0.0)
    corner = np.abs(q.corner_deltas())[:, allowed != 0]
    small = corner[corner > 1e-12 * (top1 + top2) / np.log(2.0)].min()
    got = _low_rank_scale(q.h, q.U, q.sigma, allowed, pair)
    np.testing.assert_allclose(got, (top1, top2, small), rtol=1e-12)


def test_method_options_keep_what_each_method_takes():
    assert search.method_options("anneal", restarts=4, width=3) == {"restarts": 4}
    assert search.method_options("tabu", restarts=4, width=3) == {"restarts": 4}
    assert search.method_options("beam", restarts=4, width=3) == {"width": 3}
    assert search.method_options("greedy", restarts=4, improvement=None) == {}
    with pytest.raises(ValueError, match="unknown method 'annealing'"):
        search.method_options("annealing", restarts=1)
