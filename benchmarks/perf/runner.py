"""Speed of the benchmark runner itself, each ratio measured side by side in the same run.

    python -m benchmarks.perf.runner [--only SECTION ...] [--ray-trials N]

Sections:

- ``overhead``: the smoke suite through ``run_trials`` with one worker (trials run in this
  process), against the sum of the same trials' own wall times (``run_trial`` called one by one,
  each into its own output directory). The difference is what the runner adds: the provenance,
  the record writes and fsyncs, the progress bar, the hparams experiment and the sweep run.
  Target: at most 5% of the summed trial time.
- ``parallel``: the smoke suite with the local process pool at 1 worker against 2 workers (each in
  a fresh output directory; workers are spawned processes that import torch and numba first).
  Target: at least 1.7x on 2 cores.
- ``ray``: the Ray backend's cost per trial. ``--ray-trials`` trivial trials (random agent,
  Landscape-v0 n=4, one evaluation episode) with the local backend at 1 worker against the Ray
  backend (a local Ray instance, one CPU per task): start-up (time to the first record) and the
  time per trial after it. Needs the ray extra; skipped without it.

Timings are wall seconds on a machine that may be shared: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks import suite as suites
from benchmarks.perf.search import machine_lines
from benchmarks.runner import run_trial, run_trials
from benchmarks.suite import Trial

SECTIONS = ("overhead", "parallel", "ray")


def _fresh(root: Path, name: str) -> Path:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    return path


def overhead(root: Path) -> list[str]:
    trials = suites.load("smoke").trials
    run_trial(trials[0], _fresh(root, "warm"))  # imports and numba compiles, outside both timings
    summed = 0.0
    for i, t in enumerate(trials):
        out = _fresh(root, f"one{i}")
        t0 = time.perf_counter()
        record = run_trial(t, out)
        summed += time.perf_counter() - t0
        assert record["status"] == "ok", record["error"]
    out = _fresh(root, "suite1")
    t0 = time.perf_counter()
    summary = run_trials(trials, out, workers=1, progress=False)
    wall = time.perf_counter() - t0
    assert summary["ok"] == len(trials), summary
    extra = (wall - summed) / summed
    return [f"| overhead, smoke ({len(trials)} trials, 1 worker) | summed trial time {summed:.2f} s "
            f"| run_trials {wall:.2f} s | {100 * extra:+.1f}% |"]


def parallel(root: Path) -> list[str]:
    trials = suites.load("smoke").trials
    walls = {}
    for workers in (1, 2):
        out = _fresh(root, f"pool{workers}")
        t0 = time.perf_counter()
        summary = run_trials(trials, out, workers=workers, progress=False)
        walls[workers] = time.perf_counter() - t0
        assert summary["ok"] == len(trials), summary
    return [f"| local pool, smoke ({len(trials)} trials) | 1 worker {walls[1]:.2f} s | 2 workers {walls[2]:.2f} s "
            f"| {walls[1] / walls[2]:.2f}× |"]


def ray_overhead(root: Path, n: int) -> list[str]:
    """Per-trial cost and start-up of each backend from two runs, of n and of 2n trivial trials:
    per trial = (wall(2n) - wall(n)) / n, start-up = wall(n) - n * per trial."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return ["| ray | skipped: ray is not installed (pip install -e '.[ray]') | | |"]
    cost = {}
    for backend in ("local", "ray"):
        walls = []
        for count in (n, 2 * n):
            trials = [Trial("perf", "standin/Landscape-v0", {"n": 4}, "random", {}, s, 0, 1) for s in range(count)]
            out = _fresh(root, f"tiny-{backend}-{count}")
            t0 = time.perf_counter()
            summary = run_trials(trials, out, workers=1 if backend == "local" else None, progress=False,
                                 backend=backend)
            walls.append(time.perf_counter() - t0)
            assert summary["ok"] == count, summary
        per_trial = (walls[1] - walls[0]) / n
        cost[backend] = (per_trial, walls[0] - n * per_trial)
    (local, local_start), (on_ray, ray_start) = cost["local"], cost["ray"]
    return [f"| per trivial trial ({n} vs {2 * n} trials) | local, 1 worker: {1e3 * local:.1f} ms "
            f"| ray: {1e3 * on_ray:.1f} ms | +{1e3 * (on_ray - local):.1f} ms |",
            f"| start-up of a run | local: {local_start:.1f} s | ray: {ray_start:.1f} s "
            f"| +{ray_start - local_start:.1f} s |"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--ray-trials", type=int, default=200, help="trivial trials for the ray section")
    args = parser.parse_args(argv)
    lines = [*machine_lines(), "", "| measurement | baseline | measured | ratio |", "|---|---|---|---:|"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="standin-perf-runner-") as tmp:
        root = Path(tmp)
        for section in args.only:
            rows = {"overhead": lambda: overhead(root), "parallel": lambda: parallel(root),
                    "ray": lambda: ray_overhead(root, args.ray_trials)}[section]()
            print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
