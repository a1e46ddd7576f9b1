"""Speed of the agents, each ratio measured side by side in the same run, on one core.

    python -m standin.benchmarks.perf.agents [--quick] [--only NAME ...]

Sections:

- ``ppo``: PPO training steps per second on Landscape-v0 (n = 64) with standin's numba vector env
  against the same PPO on Gymnasium's ``SyncVectorEnv`` over the single env (same config, seed and
  steps; only the vector env differs);
- ``decision``: milliseconds and landscape evaluations per decision of each agent family at
  n ∈ {64, 256, 1024} (Landscape-v0, alpha = 0.5; search budget 1000; learned values untrained,
  since cost does not depend on training);
- ``mlp``: per-decision time of value-search with an MLP value, searched through the incremental
  numba ``search.MLP`` (anneal, 1000 evaluations) against evaluating the same 1000 candidate
  actions with torch in one batch (``Batch`` landscape, random search).

Every timing is the median of ``--repeats`` runs after a warm-up; compare ratios, not absolute times.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from standin import agents, envs, search  # noqa: E402
from standin.agents import ppo  # noqa: E402
from standin.benchmarks.perf.search import machine_lines  # noqa: E402

SECTIONS = ("ppo", "decision", "mlp")


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: compiles, allocates
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_ppo(steps: int, repeats: int) -> list[str]:
    env = envs.make("standin/Landscape-v0", n=64)

    def train(sync: bool):
        def run():
            agent = agents.make("ppo", seed=0)
            if sync:  # the same PPO, but on Gymnasium's SyncVectorEnv over the single env
                with mock.patch.object(ppo, "_takes", lambda factory, name: False):
                    agent.fit(env, steps)
            else:
                agent.fit(env, steps)
        return run

    ours = steps / median_time(train(False), repeats)
    sync = steps / median_time(train(True), repeats)
    return [f"| ppo training, Landscape-v0 n=64, {steps} steps | {ours:,.0f} steps/s | SyncVectorEnv: {sync:,.0f} "
            f"steps/s | {ours / sync:.2f}× |"]


DECIDERS = {
    "ppo (factored)": ("ppo", {}),
    "ppo (autoregressive)": ("ppo", {"head": "autoregressive"}),
    "value-search oracle + anneal": ("value-search", {"value": "oracle", "budget": 1000}),
    "value-search quadratic + anneal": ("value-search", {"value": "quadratic", "budget": 1000}),
    "value-search mlp + anneal": ("value-search", {"value": "mlp", "budget": 1000}),
    "propose-search oracle, online proposal": ("propose-search", {"value": "oracle", "budget": 1000}),
    "distill (student)": ("distill", {}),
}


def bench_decision(sizes, decisions: int) -> list[str]:
    rows = []
    for n in sizes:
        env = envs.make("standin/Landscape-v0", n=n)
        for label, (name, config) in DECIDERS.items():
            agent = agents.make(name, seed=0, **config)
            agent.fit(env, 0)
            obs, info = env.reset(seed=1)
            agent.act(obs, info)  # warm-up
            times, evals = [], []
            for _ in range(decisions):
                t0 = time.perf_counter()
                agent.act(obs, info)
                times.append(time.perf_counter() - t0)
                evals.append(agent.last_evaluations)
                obs, _, _, _, info = env.step(env.action_space.sample())
                obs, info = env.reset()
            rows.append(f"| decision, n={n}, {label} | {1e3 * statistics.median(times):.3f} ms | "
                        f"{np.mean(evals):,.0f} evaluations | |")
    return rows


def bench_mlp(n: int, budget: int, repeats: int) -> list[str]:
    env = envs.make("standin/Landscape-v0", n=n)
    agent = agents.make("value-search", seed=0, value="mlp", budget=budget)
    agent.fit(env, 0)
    obs, _ = env.reset(seed=1)
    net = agent.q
    obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))

    def torch_values(x):
        with torch.no_grad():
            a = torch.as_tensor(np.asarray(x, dtype=np.float32))
            return net(obs_t.expand(len(a), -1), a).double().numpy()

    batch = search.Batch(torch_values, n)
    numba_ms = 1e3 * median_time(lambda: search.maximize(net.landscape(obs), n, "anneal", budget, seed=0), repeats)
    torch_ms = 1e3 * median_time(lambda: search.maximize(batch, n, "random", budget, seed=0), repeats)
    return [f"| mlp value, n={n}, {budget} evaluations per decision | numba incremental (anneal): {numba_ms:.2f} ms "
            f"| torch batch (random): {torch_ms:.2f} ms | {torch_ms / numba_ms:.2f}× |"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m standin.benchmarks.perf.agents",
        description="Agent speed against baselines measured side by side, on one core: PPO training on our "
        "vector env vs SyncVectorEnv, decision cost per agent, MLP-value search numba vs torch.",
    )
    ap.add_argument("--quick", action="store_true", help="fewer steps and sizes (a smoke run, about a minute)")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, metavar="NAME",
                    help=f"only these sections, any of: {', '.join(SECTIONS)} (default: all)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats, the median is reported (default 3)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    torch.set_num_threads(1)
    print("\n".join(machine_lines()))
    print()
    rows = ["| measurement | ours | baseline | ratio |", "|---|---|---|---|"]
    for section in args.only or SECTIONS:
        if section == "ppo":
            rows += bench_ppo(4096 if args.quick else 16384, args.repeats)
        elif section == "decision":
            rows += bench_decision((64,) if args.quick else (64, 256, 1024), 10 if args.quick else 30)
        else:
            for n in (64,) if args.quick else (64, 256, 1024):
                rows += bench_mlp(n, 1000, args.repeats)
        print(f"  measured {section}", flush=True)
    print()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
