"""Speed of the benchmark runner itself, each ratio measured side by side in the same run.

    python -m standin.benchmarks.perf.runner [--only SECTION ...] [--ray-trials N]

Sections:

- ``overhead``: the smoke suite through ``run_trials`` with one worker (trials run in this
  process), against the sum of the trials' own wall times (each record's ``wall_seconds``) in the
  same run, after an untimed warm-up run. The difference is what the runner adds: the provenance,
  the record writes and fsyncs, the progress bar, the hparams experiment and the sweep run.
  Target: at most 5% of the summed trial time.
- ``parallel``: ``standin bench`` of 16 equal CPU-bound trials (PPO, about 7 s each), each run a
  fresh process, with ``--workers 1`` (trials in that process) against ``--workers 2`` (two
  spawned workers): start to finish, imports and each process's first-call costs included. The
  smoke suite is too small for this: its 20 trials take about 3 s in all, about what starting a
  worker costs.
  Target: at least 1.7x on 2 cores.
- ``ray``: the Ray backend's cost per trial. Trivial trials (random agent, Landscape-v0 n=4, one
  evaluation episode), one at a time (``--workers 1``), with the local backend against the Ray
  backend (a local Ray instance): each is run with N and with 2N trials (``--ray-trials N``), so
  the time per trial is ``(wall(2N) - wall(N)) / N`` and the start-up what is left of ``wall(N)``.
  Needs the ray extra; skipped without it.

Timings are wall seconds on a machine that may be shared: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from standin.benchmarks import suite as suites
from standin.benchmarks.perf.search import machine_lines
from standin.benchmarks.runner import read_records, run_trials
from standin.benchmarks.suite import Trial

SECTIONS = ("overhead", "parallel", "ray")


def _fresh(root: Path, name: str) -> Path:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    return path


def overhead(root: Path) -> list[str]:
    """The smoke suite in this process; its wall time against the sum of the trials' own."""
    trials = suites.load("smoke").trials
    run_trials(trials, _fresh(root, "warm"), workers=1, progress=False)  # imports and compiles, untimed
    out = _fresh(root, "suite1")
    t0 = time.perf_counter()
    summary = run_trials(trials, out, workers=1, progress=False)
    wall = time.perf_counter() - t0
    assert summary["ok"] == len(trials), summary
    summed = sum(r["wall_seconds"] for r in read_records(out / "results.jsonl"))
    return [f"| runner overhead, smoke ({len(trials)} trials, 1 worker) | summed trial time {summed:.2f} s "
            f"| run_trials {wall:.2f} s | {100 * (wall - summed) / summed:+.1f}% |"]


PARALLEL_SUITE = """
name = "perf-parallel"
seeds = 16
eval_episodes = 10
[[envs]]
id = "standin/Landscape-v0"
kwargs = { n = 64 }
[[agents]]
name = "ppo"
train_steps = 65536
"""
"""The speed-up workload: 16 equal CPU-bound trials, about 7 s each."""


def parallel(root: Path) -> list[str]:
    """``standin bench`` on PARALLEL_SUITE in a fresh process with ``--workers 1`` (trials run in
    that process) and with ``--workers 2`` (a pool of two spawned processes): what a user waits
    for, from start to report, imports and each process's first-call costs included."""
    path = root / "parallel.toml"
    path.write_text(PARALLEL_SUITE)
    walls = {}
    for workers in (1, 2):
        out = _fresh(root, f"pool{workers}")
        cmd = [sys.executable, "-m", "standin.benchmarks.cli", "bench", str(path), "--out", str(out),
               "--workers", str(workers), "--no-report"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls[workers] = time.perf_counter() - t0
        ok = [r for r in read_records(out / "results.jsonl") if r["status"] == "ok"]
        assert len(ok) == 16, f"{16 - len(ok)} trials failed"
    return [f"| local backend speed-up, `standin bench` of 16 equal trials (~{walls[1] / 16:.1f} s each) "
            f"| --workers 1: {walls[1]:.1f} s | --workers 2: {walls[2]:.1f} s | {walls[1] / walls[2]:.2f}× |"]


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
            summary = run_trials(trials, out, workers=1, progress=False, backend=backend)
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
    parser.add_argument("--ray-trials", type=int, default=1000,
                        help="trivial trials for the ray section (run once with N, once with 2N)")
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
