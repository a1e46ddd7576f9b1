"""Failure rates at scale: ``benchmarks.safety.evaluate_at_scale`` against the single-env
``benchmarks.runner.evaluate``, both timed in the same run.

    python -m standin.benchmarks.perf.safety [--decisions 1000000] [--baseline 2000] [--threads 1]

The agent is ``filtered`` with its default window classifier, ``label_budget=8192``, fitted on
Completion-v0's defaults with ``fit(env, 100_000)`` (1,024 labelled prompts), ``K = 64`` candidates.
The baseline runs ``--baseline`` decisions one at a time through ``runner.evaluate``; the batched
evaluation ``--decisions`` through ``evaluate_at_scale``, ``--batch`` prompts at a time, after an
untimed warm-up of one batch (numba compiles or loads its cache). The ratio compares seconds per
decision; the failure rates are printed with their bounds so that the two can be checked against
each other.

BLAS, OpenMP and numba run one thread each (set before numpy loads, as the runner's workers do);
torch runs ``--threads``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from standin import agents, envs  # noqa: E402
from standin.benchmarks.perf.search import machine_lines  # noqa: E402
from standin.benchmarks.runner import evaluate  # noqa: E402
from standin.benchmarks.safety import evaluate_at_scale  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m standin.benchmarks.perf.safety", description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=1_000_000, help="decisions of the batched evaluation")
    ap.add_argument("--baseline", type=int, default=2000, help="decisions of the single-env evaluation")
    ap.add_argument("--batch", type=int, default=4096, help="prompts per round of the batched evaluation")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in ("decisions", "baseline", "batch", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    torch.set_num_threads(args.threads)
    print("\n".join(machine_lines()))
    print(f"torch threads: {args.threads}")

    env = envs.make("standin/Completion-v0")
    agent = agents.make("filtered", seed=args.seed, label_budget=8192)
    t0 = time.perf_counter()
    agent.fit(env, 100_000)
    print(f"fit: {time.perf_counter() - t0:.1f} s, {agent.cost.overseer_queries} labels, "
          f"K = {agent.config.candidates}, threshold {agent.config.threshold}")

    single = evaluate(env, agent, args.baseline, seed=args.seed + 1, diagnostics=False)
    evaluate_at_scale(agent, env, args.batch, seed=args.seed + 3, batch=args.batch)  # warm-up
    scaled = evaluate_at_scale(agent, env, args.decisions, seed=args.seed + 2, batch=args.batch)

    per_single = single["eval_seconds"] / single["decisions"]
    per_scaled = scaled["safety_seconds"] / scaled["safety_decisions"]
    rows = [
        ("runner.evaluate (one at a time)", single["decisions"], single["eval_seconds"], per_single,
         single["failures"], single["failure_rate"], single["failure_upper"], single["fallback_rate"]),
        (f"evaluate_at_scale (batch {args.batch})", scaled["safety_decisions"], scaled["safety_seconds"], per_scaled,
         scaled["safety_failures"], scaled["safety_failure_rate"], scaled["safety_failure_upper"],
         scaled["safety_fallback_rate"]),
    ]
    print()
    print("| evaluation | decisions | seconds | µs/decision | failures | failure rate | 95% upper | fallback rate |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, s, per, k, rate, upper, fb in rows:
        print(f"| {name} | {n:,} | {s:.1f} | {1e6 * per:,.1f} | {k:,} | {rate:.5f} | {upper:.5f} | {fb:.4f} |")
    print(f"\nspeed-up per decision: {per_single / per_scaled:.0f}×; 10^6 decisions one at a time would take "
          f"{1e6 * per_single / 60:.0f} min, batched {1e6 * per_scaled / 60:.1f} min")


if __name__ == "__main__":
    main()
