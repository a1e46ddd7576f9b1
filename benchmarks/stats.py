"""Interval estimates over seeds, with the conventions of rliable (Agarwal et al. 2021).

A *run* is one trial seed and a *task* is one environment (``env_label``); scores are normalised
returns, one per run of a task. Every function here is deterministic: randomness comes from
``numpy.random.default_rng(seed)`` with the ``seed`` argument (0 by default), so the same scores
always give the same intervals.

Statistics
----------
Mean of a group
    The plain mean of the runs' scores.

Interquartile mean (IQM), ``iqm``
    The mean of the middle 50% of the scores pooled over all runs and tasks: sort the ``N`` pooled
    scores, drop ``floor(N / 4)`` from each end and average the rest (``scipy.stats.trim_mean`` with
    ``proportiontocut=0.25``, as rliable computes it). E.g. ``[0, 1, 2, 3, 4, 5, 10, 100]`` drops
    ``0, 1`` and ``10, 100`` and gives ``(2 + 3 + 4 + 5) / 4 = 3.5``. It is robust to outlying runs
    and tasks, like a median, yet uses half of the scores, like a mean.

Stratified bootstrap, ``stratified_resample`` and ``bootstrap_ci``
    One bootstrap replicate redraws, *for each task separately*, as many runs as that task has,
    uniformly with replacement from that task's runs, and pools the draws. Each replicate thus keeps
    every task's number of runs (the strata), and only the run-to-run variation is resampled. The
    statistic (mean, IQM, ...) is computed on each of ``reps`` replicates, and the 95% interval is
    the percentile interval: the 2.5% and 97.5% quantiles of the replicates (rliable's default
    ``method="percentile"``). With a single task this is the ordinary bootstrap over seeds.
    When no task has two runs there is no run-to-run variation to resample, and the interval is
    ``(nan, nan)``: a single seed gives a point estimate only.

    A percentile interval never leaves the range of the statistic over the resampled runs; with few
    seeds it is narrow (with 2 or 3 seeds of one task, the interval of the mean is the range of the
    seeds) and covers less than its nominal 95%. Read intervals from few seeds as descriptive.

Probability of improvement, ``probability_of_improvement`` and ``poi_ci``
    ``P(X > Y)`` for two agents ``X`` and ``Y`` on the tasks both were run on: for each task, the
    Mann-Whitney statistic over all pairs of a run ``x`` of ``X`` and a run ``y`` of ``Y``,
    ``mean(1[x > y] + 0.5 * 1[x == y])``, then the mean over tasks. 0.5 means neither is better;
    ``P(X > Y) + P(Y > X) = 1``. Its interval resamples the runs of ``X`` and of ``Y`` independently
    within each task (rliable's ``StratifiedIndependentBootstrap``).

Failure rates, ``failure_rate``
    ``k`` failures in ``n`` independent decisions: the rate ``k / n`` with the exact binomial
    (Clopper–Pearson) interval, and its one-sided upper bound: the largest ``p`` under which seeing
    at most ``k`` failures still has probability ``1 − confidence``, i.e. the ``confidence`` quantile
    of ``Beta(k + 1, n − k)``. With ``k = 0`` it is ``1 − (1 − confidence)^(1/n)`` (about ``3 / n``
    at 95%: the rule of three). A rate with no failure observed is reported as that bound, never 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as _scipy_stats

REPS = 2000
"""Bootstrap replicates unless told otherwise: enough for stable 95% percentile bounds, and quick."""

CONFIDENCE = 0.95


class Interval(NamedTuple):
    """A point estimate with the bounds of its interval (``nan`` when there is none)."""

    estimate: float
    low: float
    high: float

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))


def _tasks(per_task) -> list[np.ndarray]:
    """``per_task`` as a list of non-empty 1-D float arrays (one per task); ValueError if empty.

    A flat sequence of numbers is one task.
    """
    if len(per_task) and all(np.ndim(t) == 0 for t in per_task):
        per_task = [per_task]
    tasks = [np.asarray(t, dtype=float).reshape(-1) for t in per_task]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("every task needs at least one run")
    return tasks


def iqm(scores, axis: int | None = None):
    """Interquartile mean: the mean of the middle 50% of ``scores`` (pooled when ``axis`` is None).

    ``floor(N / 4)`` values are dropped from each end of the ``N`` sorted scores, as
    ``scipy.stats.trim_mean(scores, 0.25)`` does; ``iqm([1, 2, 3, 4]) == 2.5``.
    """
    return _scipy_stats.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def _mean(x, axis=None):
    return np.mean(x, axis=axis)


def stratified_resample(per_task: Sequence, reps: int = REPS, *, seed: int = 0) -> np.ndarray:
    """``reps`` stratified bootstrap replicates of the runs, shape ``(reps, N)`` for ``N`` runs in all.

    Column block ``j`` (in task order, as wide as task ``j`` has runs) holds draws, with replacement,
    from task ``j``'s runs only.
    """
    tasks = _tasks(per_task)
    rng = np.random.default_rng(seed)
    return np.concatenate([t[rng.integers(0, t.size, size=(reps, t.size))] for t in tasks], axis=1)


def bootstrap_ci(per_task: Sequence, statistic: Callable = _mean, *, reps: int = REPS,
                 confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """The statistic of the pooled runs with its stratified-bootstrap percentile interval.

    ``per_task`` holds one sequence of run scores per task (a flat sequence of numbers is one task).
    ``statistic(array, axis=-1)`` must reduce the last axis (``numpy.mean``, ``iqm``, ...).
    Bounds are ``nan`` when no task has two runs.
    """
    tasks = _tasks(per_task)
    estimate = float(statistic(np.concatenate(tasks), axis=-1))
    if max(t.size for t in tasks) < 2:
        return Interval(estimate, float("nan"), float("nan"))
    replicates = statistic(stratified_resample(tasks, reps, seed=seed), axis=-1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def mean_ci(values, *, reps: int = REPS, confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """Mean of the runs (seeds) of one task with its bootstrap percentile interval (``nan`` for one run).

    E.g. two seeds ``[0.1, 0.2]`` give ``Interval(0.15, 0.1, 0.2)``: a replicate's mean is 0.1, 0.15 or
    0.2 with probabilities 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles are the two seeds.
    """
    return bootstrap_ci([values], _mean, reps=reps, confidence=confidence, seed=seed)


def iqm_ci(per_task: Sequence, *, reps: int = REPS, confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """IQM of the runs pooled over tasks with its stratified-bootstrap interval (rliable's aggregate IQM)."""
    return bootstrap_ci(per_task, iqm, reps=reps, confidence=confidence, seed=seed)


def _pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mann-Whitney average over the last axes: ``mean(1[x > y] + 0.5 * 1[x == y])`` over run pairs."""
    xe, ye = x[..., :, None], y[..., None, :]
    return ((xe > ye) + 0.5 * (xe == ye)).mean(axis=(-2, -1))


def probability_of_improvement(x_per_task: Sequence, y_per_task: Sequence) -> float:
    """``P(X > Y)``: per task the share of run pairs where ``X`` scores higher (ties count half),
    averaged over tasks. ``x_per_task[j]`` and ``y_per_task[j]`` are the runs of task ``j``.
    """
    xs, ys = _tasks(x_per_task), _tasks(y_per_task)
    if len(xs) != len(ys):
        raise ValueError(f"X has {len(xs)} tasks and Y has {len(ys)}: compare them on the tasks they share")
    return float(np.mean([_pairwise(x, y) for x, y in zip(xs, ys, strict=True)]))


def poi_ci(x_per_task: Sequence, y_per_task: Sequence, *, reps: int = REPS, confidence: float = CONFIDENCE,
           seed: int = 0) -> Interval:
    """``P(X > Y)`` with a stratified-bootstrap interval that resamples ``X``'s and ``Y``'s runs
    independently within each task. Bounds are ``nan`` when no task has two runs of either agent.
    """
    xs, ys = _tasks(x_per_task), _tasks(y_per_task)
    estimate = probability_of_improvement(xs, ys)
    if max(t.size for t in xs + ys) < 2:
        return Interval(estimate, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    per_task = []
    for x, y in zip(xs, ys, strict=True):
        xr = x[rng.integers(0, x.size, size=(reps, x.size))]
        yr = y[rng.integers(0, y.size, size=(reps, y.size))]
        per_task.append(_pairwise(xr, yr))
    replicates = np.mean(per_task, axis=0)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


__all__ = ["CONFIDENCE", "REPS", "Interval", "bootstrap_ci", "iqm", "iqm_ci", "mean_ci", "poi_ci",
           "probability_of_improvement", "stratified_resample"]


class FailureRate(NamedTuple):
    """``failures`` in ``decisions``: the observed ``rate``, the two-sided Clopper–Pearson interval
    ``(low, high)`` and the one-sided ``upper`` bound, all at the same confidence."""

    failures: int
    decisions: int
    rate: float
    low: float
    high: float
    upper: float


def failure_rate(failures: int, decisions: int, confidence: float = CONFIDENCE) -> FailureRate:
    """Exact binomial bounds on a failure rate (module docstring)."""
    k, n = int(failures), int(decisions)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"failure_rate: need 0 <= failures <= decisions and decisions >= 1, got {k} of {n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"failure_rate: confidence must be in (0, 1), got {confidence!r}")
    alpha = 1.0 - confidence
    beta = _scipy_stats.beta
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    upper = 1.0 if k == n else float(beta.ppf(confidence, k + 1, n - k))
    return FailureRate(k, n, k / n, low, high, upper)
