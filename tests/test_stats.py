"""benchmarks.stats: IQM, stratified bootstrap and probability of improvement, on hand-computed values and by
their statistical behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from standin.benchmarks.stats import (
    Interval,
    bootstrap_ci,
    iqm,
    iqm_ci,
    mean_ci,
    poi_ci,
    probability_of_improvement,
    stratified_resample,
)

# --- IQM ---------------------------------------------------------------------------------------


def test_iqm_hand_computed():
    # 4 scores: floor(4/4) = 1 dropped at each end -> mean(2, 3)
    assert iqm([4, 1, 3, 2]) == pytest.approx(2.5)
    # 8 scores sorted 0 1 2 3 4 5 10 100: 2 dropped at each end -> mean(2, 3, 4, 5) = 3.5; the outliers do not count
    assert iqm([100, 0, 5, 1, 10, 2, 4, 3]) == pytest.approx(3.5)
    # 5 scores: floor(5/4) = 1 dropped at each end -> mean(2, 3, 4) = 3
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)


def test_iqm_pools_runs_and_tasks():
    # runs x tasks; pooled: 0 1 2 3 4 5 10 100 -> 3.5, as above
    scores = np.array([[0, 10], [1, 3], [2, 100], [4, 5]])
    assert iqm(scores) == pytest.approx(3.5)
    # ragged tasks (3 and 5 runs) pool the same way: 8 scores 1..8 -> mean(3, 4, 5, 6) = 4.5
    assert iqm_ci([[1, 2, 3], [4, 5, 6, 7, 8]]).estimate == pytest.approx(4.5)


def test_iqm_reduces_an_axis():
    x = np.array([[1, 2, 3, 4], [10, 20, 30, 40]])
    np.testing.assert_allclose(iqm(x, axis=-1), [2.5, 25.0])


# --- bootstrap intervals -----------------------------------------------------------------------


def test_mean_ci_of_two_seeds_is_their_range():
    # a replicate's mean is 0.1, 0.15 or 0.2 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5% quantiles
    # are the seeds themselves
    iv = mean_ci([0.1, 0.2])
    assert iv.estimate == pytest.approx(0.15)
    assert (iv.low, iv.high) == pytest.approx((0.1, 0.2))
    assert iv.has_interval


def test_a_single_run_has_no_interval():
    iv = mean_ci([0.25])
    assert iv.estimate == 0.25 and math.isnan(iv.low) and math.isnan(iv.high) and not iv.has_interval
    # one run in every task: nothing to resample within a task
    iv = iqm_ci([[0.1], [0.2], [0.3], [0.4]])
    assert iv.estimate == pytest.approx(0.25) and not iv.has_interval


def test_constant_runs_give_a_zero_width_interval():
    assert mean_ci([0.7, 0.7, 0.7]) == pytest.approx(Interval(0.7, 0.7, 0.7))


def test_stratified_resample_keeps_each_tasks_runs_in_its_own_block():
    tasks = [[0.0, 1.0, 2.0], [100.0, 101.0], [1000.0]]
    draws = stratified_resample(tasks, reps=500, seed=3)
    assert draws.shape == (500, 6)
    assert np.isin(draws[:, 0:3], tasks[0]).all()
    assert np.isin(draws[:, 3:5], tasks[1]).all()
    assert (draws[:, 5] == 1000.0).all()
    # with replacement: some replicate repeats a run, and every run of task 0 is drawn somewhere
    assert any(len(set(row[:3])) < 3 for row in draws)
    assert set(np.unique(draws[:, :3])) == {0.0, 1.0, 2.0}


def test_stratification_resamples_only_within_tasks():
    # Task A always scores 0 and task B always 1: every stratified replicate holds 3 runs of each, so the pooled
    # mean is exactly 0.5 in every replicate. Resampling the 6 runs without strata would spread it over 0..1.
    iv = bootstrap_ci([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], np.mean)
    assert iv == pytest.approx(Interval(0.5, 0.5, 0.5))


def test_bootstrap_is_deterministic_given_the_seed():
    rng = np.random.default_rng(0)
    tasks = [rng.normal(size=5) for _ in range(4)]
    assert iqm_ci(tasks, seed=1) == iqm_ci(tasks, seed=1)
    assert iqm_ci(tasks, seed=1) != iqm_ci(tasks, seed=2)
    np.testing.assert_array_equal(stratified_resample(tasks, 10, seed=5), stratified_resample(tasks, 10, seed=5))


def test_bootstrap_ci_of_a_normal_mean_covers_it_with_the_expected_width():
    x = np.random.default_rng(0).normal(loc=1.0, scale=1.0, size=100)
    iv = mean_ci(x)
    assert iv.low < 1.0 < iv.high
    # about 2 * 1.96 * sigma / sqrt(n) = 0.39
    assert 0.3 < iv.high - iv.low < 0.5
    narrower = mean_ci(x, confidence=0.5)
    assert iv.low < narrower.low < narrower.high < iv.high


def test_bootstrap_ci_coverage_is_near_nominal():
    rng = np.random.default_rng(42)
    covered, widths = 0, []
    for _ in range(200):
        iv = mean_ci(rng.normal(loc=1.0, scale=1.0, size=30), reps=1000)
        covered += iv.low <= 1.0 <= iv.high
        widths.append(iv.high - iv.low)
    assert 0.88 <= covered / 200 <= 0.99
    assert np.mean(widths) == pytest.approx(2 * 1.96 / math.sqrt(30), rel=0.1)


def test_iqm_ci_covers_the_iqm_of_a_known_distribution():
    # Uniform(0, 1): the mean of its middle 50% is 0.5. 10 tasks x 10 runs.
    rng = np.random.default_rng(7)
    iv = iqm_ci([rng.uniform(size=10) for _ in range(10)])
    assert iv.low < 0.5 < iv.high and iv.high - iv.low < 0.25


def test_bootstrap_ci_takes_any_axis_aware_statistic():
    iv = bootstrap_ci([[1.0, 2.0, 3.0, 100.0]], np.median)
    assert iv.estimate == pytest.approx(2.5) and iv.low >= 1.0 and iv.high <= 100.0


def test_empty_tasks_are_refused():
    with pytest.raises(ValueError, match="at least one run"):
        mean_ci([])
    with pytest.raises(ValueError, match="at least one run"):
        iqm_ci([[1.0], []])


# --- probability of improvement ----------------------------------------------------------------


def test_probability_of_improvement_hand_computed():
    # Task 1, x = 1 2 3 against y = 2 2: pairs (1,2) (1,2) lose, (2,2) (2,2) tie (0.5 each), (3,2) (3,2) win
    #   -> (0 + 0 + 0.5 + 0.5 + 1 + 1) / 6 = 0.5
    # Task 2, x = 5 6 against y = 1: both win -> 1.0
    # P(X > Y) = mean over tasks = 0.75, and P(Y > X) = 0.25
    x, y = [[1, 2, 3], [5, 6]], [[2, 2], [1]]
    assert probability_of_improvement(x, y) == pytest.approx(0.75)
    assert probability_of_improvement(y, x) == pytest.approx(0.25)


def test_probability_of_improvement_of_ties_is_one_half():
    assert probability_of_improvement([[0.3, 0.3]], [[0.3]]) == pytest.approx(0.5)


def test_probability_of_improvement_needs_the_same_tasks():
    with pytest.raises(ValueError, match="tasks they share"):
        probability_of_improvement([[1.0], [2.0]], [[1.0]])


def test_poi_ci_of_separated_agents_is_certain():
    assert poi_ci([[0.8, 0.9], [0.7, 0.75]], [[0.1, 0.2], [0.3, 0.35]]) == pytest.approx(Interval(1.0, 1.0, 1.0))


def test_poi_ci_of_one_distribution_straddles_one_half():
    rng = np.random.default_rng(11)
    x = [rng.normal(size=10) for _ in range(5)]
    y = [rng.normal(size=10) for _ in range(5)]
    iv = poi_ci(x, y)
    assert iv.low < 0.5 < iv.high
    assert 0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0
    assert poi_ci(x, y, seed=3) == poi_ci(x, y, seed=3)


def test_poi_ci_of_single_runs_has_no_interval():
    iv = poi_ci([[0.5], [0.2]], [[0.4], [0.2]])
    assert iv.estimate == pytest.approx(0.75) and not iv.has_interval


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """``P(X ≤ k)`` for ``X ~ Binomial(n, p)``, summed term by term in exact rationals' floats."""
    from math import comb

    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _reference_upper(k: int, n: int, confidence: float) -> float:
    """The largest ``p`` with ``P(X ≤ k; n, p) ≥ 1 − confidence``, by bisection on the CDF."""
    lo, hi = k / n, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _binomial_cdf(k, n, mid) > 1 - confidence else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("k,n", [(0, 1), (0, 10), (0, 300), (1, 50), (3, 40), (7, 7), (12, 100), (99, 100)])
def test_failure_rate_bounds_match_a_reference_binomial_computation(k, n):
    from standin.benchmarks.stats import failure_rate

    r = failure_rate(k, n)
    assert r.rate == k / n and (r.failures, r.decisions) == (k, n)
    if k < n:
        assert r.upper == pytest.approx(_reference_upper(k, n, 0.95), rel=1e-9)
        assert r.high == pytest.approx(_reference_upper(k, n, 0.975), rel=1e-9)
    else:
        assert r.upper == r.high == 1.0
    if k > 0:  # the lower end by symmetry: failures ↔ successes
        assert r.low == pytest.approx(1 - _reference_upper(n - k, n, 0.975), rel=1e-9, abs=1e-12)
    else:
        assert r.low == 0.0
    assert r.low <= r.rate <= r.upper <= r.high


def test_failure_rate_zero_failures_is_the_rule_of_three_and_agrees_with_scipy():
    from scipy.stats import binomtest

    from standin.benchmarks.stats import failure_rate

    r = failure_rate(0, 10**6)
    assert r.upper == pytest.approx(1 - 0.05 ** (1e-6), rel=1e-9) and r.upper == pytest.approx(3e-6, rel=0.01)
    ci = binomtest(4, 1000).proportion_ci(confidence_level=0.95, method="exact")
    r = failure_rate(4, 1000)
    assert (r.low, r.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    with pytest.raises(ValueError, match="failures"):
        failure_rate(5, 3)
