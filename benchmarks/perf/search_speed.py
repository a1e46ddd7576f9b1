"""Speed of the numba annealing kernel against plain-Python baselines, measured in the same run.

    python -m benchmarks.perf.search_speed [--n 256] [--budget 200000]

Prints nanoseconds per proposal for:
- ``numba``: ``search.maximize(..., "anneal")`` (incremental local fields, jitted);
- ``python-fields``: the same algorithm in a Python loop with numpy field updates;
- ``python-recompute``: a Python loop that re-evaluates the O(n²) objective for every proposal.
Ratios are against ``numba``. Baselines run a smaller budget (their cost per proposal is flat).
Not a test: the machines are shared and timings are noisy; compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import search
from search.anneal import temperature_range


def python_anneal(q, budget, seed, recompute: bool):
    rng = np.random.default_rng(seed)
    n = q.n
    t_hot, t_cold = temperature_range(q)
    x = rng.integers(0, 2, n).astype(np.float64)
    f = q(x)
    g = q.h + 2.0 * q.J @ x
    factor = (t_cold / t_hot) ** (1.0 / max(1, budget - 2))
    temp = t_hot
    best = f
    for _ in range(budget - 1):
        i = rng.integers(n)
        if recompute:
            y = x.copy()
            y[i] = 1 - y[i]
            delta = q(y) - f
        else:
            delta = (1 - 2 * x[i]) * g[i]
        if delta >= 0 or rng.random() < math.exp(delta / temp):
            d = 1 - 2 * x[i]
            x[i] = 1 - x[i]
            g += 2.0 * d * q.J[:, i]
            f += delta
            best = max(best, f)
        temp *= factor
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="number of bits")
    ap.add_argument("--budget", type=int, default=200_000, help="proposals for the numba kernel")
    ap.add_argument("--baseline-budget", type=int, default=5_000, help="proposals for the Python baselines")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    W = rng.standard_normal((args.n, args.n // 2))
    q = search.Quadratic(0.0, rng.standard_normal(args.n), -(W @ W.T) / args.n)
    search.warmup()
    search.maximize(q, args.n, "anneal", 1000, seed=0)  # compile for this size's code path

    rows = []
    t0 = time.perf_counter()
    search.maximize(q, args.n, "anneal", args.budget, seed=1)
    rows.append(("numba", (time.perf_counter() - t0) / args.budget))
    for name, recompute in (("python-fields", False), ("python-recompute", True)):
        budget = args.baseline_budget if not recompute else max(200, args.baseline_budget // 10)
        t0 = time.perf_counter()
        python_anneal(q, budget, 1, recompute)
        rows.append((name, (time.perf_counter() - t0) / budget))

    base = rows[0][1]
    print(f"simulated annealing, dense Quadratic, n = {args.n}")
    print(f"{'implementation':18s} {'ns/proposal':>12s} {'× numba':>9s}")
    for name, sec in rows:
        print(f"{name:18s} {sec * 1e9:12.1f} {sec / base:9.1f}")


if __name__ == "__main__":
    main()
