"""Anytime traces: the best score found against evaluations used, at log-spaced checkpoints."""

from __future__ import annotations

import functools

import numpy as np

from standin.search.jit import jitable

TRACE_POINTS = 32


@functools.lru_cache(maxsize=256)
def _checkpoints(budget: int, points: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, budget, num=points)).astype(np.int64))


def checkpoints(budget: int, points: int = TRACE_POINTS) -> np.ndarray:
    """Sorted, unique evaluation counts in ``[1, budget]``, log-spaced, ending at ``budget``.

    Shared between calls with the same budget (kernels only read it): don't modify it.
    """
    return _checkpoints(int(budget), int(points))


@jitable
def record(trace, marks, pos, evals, best):
    """Fill ``trace`` at every checkpoint in ``marks`` reached by ``evals``; return the new ``pos``."""
    while pos < marks.shape[0] and marks[pos] <= evals:
        trace[pos] = best
        pos += 1
    return pos


@jitable
def next_mark(marks, pos):
    """The evaluation count at which :func:`record` next has work to do (a huge number when done);
    hot loops compare against it instead of calling ``record`` on every evaluation."""
    return marks[pos] if pos < marks.shape[0] else np.iinfo(np.int64).max
