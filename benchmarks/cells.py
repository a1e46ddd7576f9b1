"""The unit a report is built from, shared by its tables (``benchmarks.report``) and figures (``benchmarks.figures``).

A ``Cell`` is one (environment, agent setting) group of ok trials over its seeds; ``benchmarks.report``
makes them from ``results.jsonl``. Here too are the few helpers both modules apply to cells: a metric's
values over a group, cells nested by their attributes, the Pareto front of decision cost against quality,
and the 3-significant-digit number format of decision times. This module imports neither of the two, so
the report can import the figures without a cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from standin.benchmarks import stats


@dataclass
class Cell:
    """One (environment, agent setting) group over its seeds, with what the figures need."""

    env: str
    family: str
    log2: float
    agent: str
    kind: str | None
    group: str
    setting: str
    """``agent_setting``: the label without a swept training budget, shared by one learner's budgets."""
    budget: int
    """The training budget in environment steps (``metrics.train_budget``); 0 for an agent that does not learn."""
    records: list[dict]
    norm: stats.Interval | None
    """Mean normalised return with its bootstrap interval; None without reference values."""
    rate: stats.Interval | None
    """Mean optimal rate with its bootstrap interval; None where it is null."""
    ms: float
    evals: float


def metric_values(group: list[dict], name: str) -> list[float]:
    """The non-null values of ``metrics[name]`` over a group's seeds."""
    return [r["metrics"][name] for r in group if r["metrics"].get(name) is not None]


def nest_by(cells, *keys) -> dict:
    """Cells nested by the given attribute names, in first-appearance order: ``{k1: {k2: [cells]}}``."""
    out: dict = {}
    for cell in cells:
        node = out
        for key in keys[:-1]:
            node = node.setdefault(getattr(cell, key), {})
        node.setdefault(getattr(cell, keys[-1]), []).append(cell)
    return out


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, quality) no other point beats: none is at most as costly and at
    least as good, and strictly better in one of the two. Sorted by cost."""
    front = []
    for i, (cost, quality) in enumerate(points):
        dominated = any(c <= cost and q >= quality and (c < cost or q > quality)
                        for j, (c, q) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def front_of(points: list[Cell], xy) -> list[int]:
    """The Pareto front of the non-reference points (references, such as an oracle that knows the
    optimum, are drawn but cannot be on it): indices into ``points``, cheapest first."""
    idx = [i for i, c in enumerate(points) if c.kind != "reference"]
    return [idx[j] for j in pareto_front([tuple(xy[i]) for i in idx])]


def fmt_sig3(x: float) -> str:
    """``x`` to 3 significant digits without exponent notation (1234 → 1230, 0.01234 → 0.0123)."""
    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    x = float(f"{x:.3g}")
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"
