"""Steps per second of each family's numba vector env against Gymnasium's ``SyncVectorEnv`` over the
single env, measured side by side in the same run, on one core.

    python -m standin.benchmarks.perf.envs [--quick] [--only ID ...] [--num-envs N ...] [--repeats R]

For every registered standin family at its default arguments and each ``num_envs`` (default 1, 64,
1024): environment steps per second (``num_envs`` × vector steps / seconds) of

- ``ours``: ``gymnasium.make_vec(id, num_envs)`` through the ``vector_entry_point``;
- ``sync``: ``SyncVectorEnv`` over ``num_envs`` single envs,

each with the reference values in ``info`` (the default, as evaluation sees them) and without
(``references=False``, as training runs: PPO switches them off, since it never reads them), and
with next-step autoreset. Actions are drawn up front (a bank of 8 random action batches,
cycled; masked moves act as "stay"), so the timings are of the environments alone. The target
(issue 4) is ``ours / sync ≥ 10`` at 1024 environments for every family.

Each number is the median of ``--repeats`` timed runs of at least ``--seconds`` each, after a
warm-up that compiles the kernels. The machines are shared and noisy: compare ratios.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from standin import envs  # noqa: E402
from standin.benchmarks.perf.search import machine_lines  # noqa: E402

TARGET = 10.0
TARGET_ENVS = 1024


def _actions(space, num_envs: int, seed: int) -> list[np.ndarray]:
    space.seed(seed)
    return [np.stack([space.sample() for _ in range(num_envs)]) for _ in range(8)]


def steps_per_second(vec, actions, seconds: float, repeats: int) -> float:
    """Median env-steps/s of ``vec`` over ``repeats`` runs of at least ``seconds`` each."""
    vec.reset(seed=0)
    for a in actions:  # warm-up: compiles the kernels, fills caches
        vec.step(a)
    rates = []
    for _ in range(repeats):
        steps, start = 0, time.perf_counter()
        while True:
            for a in actions:
                vec.step(a)
            steps += len(actions)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(steps * vec.num_envs / elapsed)
    return statistics.median(rates)


def measure(env_id: str, num_envs: int, seconds: float, repeats: int) -> dict:
    single = envs.make(env_id)
    actions = _actions(single.action_space, num_envs, seed=num_envs)
    out = {"env": env_id, "num_envs": num_envs}
    for refs in (True, False):
        for mode in ("vector_entry_point", "sync"):
            vec = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, references=refs)
            key = ("ours" if mode == "vector_entry_point" else "sync") + ("" if refs else "_norefs")
            out[key] = steps_per_second(vec, actions, seconds, repeats)
            vec.close()
    return out


def _rate(x: float) -> str:
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"


def table(rows: list[dict]) -> str:
    head = ["env", "num_envs", "ours", "sync", "ratio", "ours, no refs", "sync, no refs", "ratio, no refs",
            f"≥ {TARGET:g}× at {TARGET_ENVS}?"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        ratio, free = r["ours"] / r["sync"], r["ours_norefs"] / r["sync_norefs"]
        met = ""
        if r["num_envs"] == TARGET_ENVS:
            met = " / ".join("yes" if x >= TARGET else "**no**" for x in (ratio, free))
        lines.append(f"| {r['env'].split('/')[-1]} | {r['num_envs']} | {_rate(r['ours'])} | {_rate(r['sync'])} | "
                     f"{ratio:.1f}× | {_rate(r['ours_norefs'])} | {_rate(r['sync_norefs'])} | {free:.1f}× | {met} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m standin.benchmarks.perf.envs",
        description="Env steps/s of each standin family's numba vector env against Gymnasium's SyncVectorEnv over "
        "the single env, side by side, on one core; prints the machine, then a markdown table.",
    )
    ap.add_argument("--quick", action="store_true",
                    help="0.2 s per timed run and 3 repeats: a smoke run (about a minute), noisier numbers")
    ap.add_argument("--only", nargs="+", choices=envs.ids(), metavar="ID",
                    help=f"only these ids, any of: {', '.join(envs.ids())} (default: all)")
    ap.add_argument("--num-envs", nargs="+", type=int, default=[1, 64, TARGET_ENVS], metavar="N",
                    help="vector sizes to measure (default: 1 64 1024)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="minimum length of each timed run in seconds (default 1.0; 0.2 with --quick)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed runs per measurement, the median is reported; at least 3 (default 3)")
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (0.2 if args.quick else 1.0)
    repeats = args.repeats if args.repeats is not None else 3
    if repeats < 3:
        ap.error("--repeats must be at least 3")
    if seconds <= 0:
        ap.error("--seconds must be > 0")
    if any(n < 1 for n in args.num_envs):
        ap.error("--num-envs values must be >= 1")

    print("\n".join(machine_lines()))
    print(f"median of {repeats} timed runs of >= {seconds:g} s each, after a warm-up; default env arguments; "
          "env steps per second")
    print()
    rows = []
    for env_id in args.only or envs.ids():
        for num_envs in args.num_envs:
            rows.append(measure(env_id, num_envs, seconds, repeats))
            print(f"  measured {env_id} × {num_envs}", flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
