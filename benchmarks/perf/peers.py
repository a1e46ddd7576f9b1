"""Our PPO against Stable-Baselines3's PPO: the same env steps, the same networks, the same held-out
episodes, on one core.

    python -m standin.benchmarks.perf.peers [--quick] [--steps N] [--seeds K] [--only landscape knapsack lock]

For each problem and seed, three agents train for the same number of env steps and are evaluated on
the same 200 held-out episodes (``benchmarks.runner.evaluate`` with ``seed + EVAL_SEED_OFFSET``,
deterministic actions: the mode of each bit's Bernoulli):

- ``ours``: ``agents.make("ppo", seed=s, torso="mlp")``, its defaults (``agents.ppo.PPOConfig``) but
  for the torso: the flat MLP that SB3's ``MlpPolicy`` has (on Knapsack-v0's item rows our default
  would be the item network);
- ``SB3, same hyperparameters``: ``stable_baselines3.PPO`` given every setting of ``PPOConfig`` that it
  has (``sb3_same_kwargs``): learning rate 3e-3 annealed linearly to 0 per rollout, 8 envs × 64 steps,
  4 minibatches of 128, 4 epochs, gamma 0.99, GAE lambda 0.95, clip 0.2, no entropy bonus, gradient
  clip 0.5, advantages normalised per minibatch, Adam eps 1e-5, separate actor and critic tanh MLPs
  (64, 64) with orthogonal init (gains √2, 0.01 for the logits, 1 for the value), and rewards divided
  by a running std of the discounted return through ``VecNormalize(norm_obs=False, norm_reward=True,
  clip_reward=inf)``, which computes exactly what ``agents.ppo.RunningScale`` does;
- ``SB3 defaults``: ``PPO("MlpPolicy", vec_env, seed=s)`` with only ``net_arch`` set to ours (its
  default already is (64, 64) tanh for each of actor and critic): learning rate 3e-4 constant,
  n_steps 2048 on one env (``make_vec_env``'s default), minibatches of 64, 10 epochs, no reward
  normalisation.

Columns of the table:

- ``steps``: env steps each agent trained for: ``--steps`` rounded down to a multiple of 2048 (the
  longest rollout, SB3's default n_steps on one env, and a whole number of ours), so that no agent
  trains on a partial rollout or past the count;
- ``ours``, ``SB3 same hyperparameters``, ``SB3 defaults``: normalised return on the held-out episodes,
  ``(return − random) / (optimal − random)`` per the env's reference values (0: uniform random actions,
  1: the optimum), as mean ± sample std over the seeds (the mean alone for one seed);
- ``train s``: wall seconds of training per seed (mean), ours / SB3 same / SB3 defaults, from
  building the vector env to the end of training. Ours steps standin's numba vector env, SB3 a
  ``DummyVecEnv`` of single envs (both with ``references=False``, as training never reads them), so
  these compare the whole training pipelines, not PPO's update alone.

Differences in the "same hyperparameters" setting that SB3's options cannot remove:

- value clipping: ours (``clip_vloss``) takes ``max`` of the clipped and unclipped squared errors, as
  the PPO paper's code does; SB3's ``clip_range_vf`` uses the clipped error alone. SB3 gets
  ``clip_range_vf = clip_coef``, so both keep the value update within ±0.2 of the rollout's estimates;
- SB3's value loss is the mean squared error, ours half of it: SB3 gets ``vf_coef / 2`` (0.25), the
  same weight on the same quantity;
- random streams: network init, minibatch order, action sampling and the training envs' contexts are
  seeded differently on each side (evaluation episodes are the same);
- SB3's vector env resets a finished env at once, like our same-step autoreset; the problems here
  have no truncation, so neither side bootstraps a truncated episode.

Everything runs on one core: ``OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS`` are set to 1 before numpy, numba
or torch load, ``torch.set_num_threads(1)``, and SB3 runs on the CPU. An untimed warm-up (one rollout of
ours, one step of the single env) precedes each problem's timings so numba's compilation is not
counted. Needs ``stable-baselines3`` (``pip install -e '.[peers]'``).
"""

from __future__ import annotations

import os

# one core: fix the thread pools before numpy, numba or torch are imported
for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from standin import agents, envs  # noqa: E402
from standin.agents.ppo import PPOConfig  # noqa: E402
from standin.benchmarks.perf.search import machine_lines  # noqa: E402
from standin.benchmarks.runner import EVAL_SEED_OFFSET, evaluate  # noqa: E402

INSTALL_HINT = "pip install -e '.[peers]'"
EVAL_EPISODES = 200
SB3_DEFAULT_N_STEPS = 2048
"""``stable_baselines3.PPO``'s default ``n_steps``."""
SB3_DEFAULT_N_ENVS = 1
"""``stable_baselines3.common.env_util.make_vec_env``'s default ``n_envs``."""
SETTINGS = ("same", "defaults")
"""The two SB3 settings: ``same`` (our hyperparameters) and ``defaults`` (SB3's own)."""

#: Fields of ``PPOConfig`` and how the "same hyperparameters" setting mirrors each one.
MIRRORED = {
    "num_envs": "n_envs of the DummyVecEnv",
    "num_steps": "n_steps",
    "learning_rate": "learning_rate (a schedule when annealed)",
    "anneal_lr": "learning_rate: linear schedule to 0, per rollout as ours",
    "gamma": "gamma, and VecNormalize's gamma",
    "gae_lambda": "gae_lambda",
    "num_minibatches": "batch_size = num_envs * num_steps // num_minibatches",
    "update_epochs": "n_epochs",
    "norm_adv": "normalize_advantage (per minibatch on both sides)",
    "norm_reward": "VecNormalize(norm_obs=False, norm_reward=True, clip_reward=inf)",
    "clip_coef": "clip_range, and clip_range_vf when clip_vloss",
    "clip_vloss": "clip_range_vf (SB3 clips the prediction; ours takes max of clipped and unclipped)",
    "ent_coef": "ent_coef",
    "vf_coef": "vf_coef / 2 (SB3's value loss is the MSE, ours 0.5 * MSE)",
    "max_grad_norm": "max_grad_norm",
    "target_kl": "must be None (SB3 stops at 1.5 * target_kl per minibatch, ours per epoch)",
    "head": "must give the factored head: SB3's MultiBinary policy is independent Bernoullis",
    "head_hidden": "unused by the factored head",
    "torso": "mlp, the flat network SB3's MlpPolicy has (ours would take its item network on Knapsack-v0's "
             "item rows; that one is compared against ours in the suites, not here)",
    "hidden_sizes": "policy_kwargs net_arch pi and vf, tanh",
    "deterministic_eval": "predict(deterministic=...)",
}


# --------------------------------------------------------------------------- problems


@dataclasses.dataclass(frozen=True)
class Problem:
    """One environment configuration: a family name (for ``--only``), a standin id and its arguments."""

    family: str
    env_id: str
    kwargs: tuple[tuple[str, object], ...]

    @property
    def label(self) -> str:
        name = self.env_id.split("/")[-1]
        return " ".join([name, *(f"{k}={v}" for k, v in self.kwargs)])

    def make(self, **extra):
        return envs.make(self.env_id, **dict(self.kwargs), **extra)


def _problem(family: str, **kwargs) -> Problem:
    env_id = {"landscape": "standin/Landscape-v0", "knapsack": "standin/Knapsack-v0", "lock": "standin/Lock-v0"}
    return Problem(family, env_id[family], tuple(kwargs.items()))


FAMILIES = ("landscape", "knapsack", "lock")
PROBLEMS = (
    _problem("landscape", n=4, alpha=0.5),
    _problem("landscape", n=16, alpha=0.5),
    _problem("landscape", n=64, alpha=0.5),
    _problem("landscape", n=16, alpha=2.0),
    _problem("knapsack", n=50),
    _problem("lock", n=16),
)
QUICK_PROBLEMS = (
    _problem("landscape", n=16, alpha=0.5),
    _problem("knapsack", n=20),
    _problem("lock", n=8),
)


# --------------------------------------------------------------------------- pure helpers


def check_mirrorable(cfg: PPOConfig) -> None:
    """Raise ``ValueError`` for a ``PPOConfig`` whose settings SB3's PPO cannot take."""
    if cfg.target_kl is not None:
        raise ValueError("peers: target_kl must be None (SB3 stops early per minibatch at 1.5 * target_kl, "
                         "ours per epoch at target_kl)")
    if cfg.head not in (None, "factored"):
        raise ValueError(f"peers: head {cfg.head!r} has no SB3 counterpart; SB3's MultiBinary policy is the "
                         "factored head")
    if not cfg.deterministic_eval:
        raise ValueError("peers: evaluation here is deterministic on both sides; deterministic_eval must be True")


def equal_steps(steps: int, cfg: PPOConfig | None = None) -> int:
    """``steps`` rounded down to a whole number of every setting's rollout (at least one of each).

    The rollouts are ours and SB3's same-hyperparameter one (``num_envs * num_steps``) and SB3's
    default (2048 steps of one env); SB3 always finishes the rollout it starts, so any other count
    would let one side train longer."""
    cfg = PPOConfig() if cfg is None else cfg
    unit = math.lcm(cfg.num_envs * cfg.num_steps, SB3_DEFAULT_N_STEPS * SB3_DEFAULT_N_ENVS)
    return max(unit, steps // unit * unit)


def annealed_lr(learning_rate: float, rollout: int, total_steps: int) -> Callable[[float], float]:
    """SB3 learning-rate schedule that reproduces ours: ``lr · (1 − (i − 1) / N)`` for rollout ``i`` of ``N``.

    SB3 calls the schedule with ``progress_remaining = 1 − i · rollout / total`` just before the
    update of rollout ``i`` (and with 1.0 when building the optimizer), so adding one rollout's
    fraction back gives our value."""
    step = rollout / total_steps

    def schedule(progress_remaining: float) -> float:
        return learning_rate * min(1.0, progress_remaining + step)

    return schedule


def sb3_same_kwargs(cfg: PPOConfig, total_steps: int) -> dict:
    """Keyword arguments of ``stable_baselines3.PPO`` mirroring ``cfg`` (the policy and env aside).

    ``total_steps`` is the ``learn`` budget (the learning rate anneals over it); the vector env
    must have ``cfg.num_envs`` envs."""
    check_mirrorable(cfg)
    rollout = cfg.num_envs * cfg.num_steps
    lr = annealed_lr(cfg.learning_rate, rollout, total_steps) if cfg.anneal_lr else cfg.learning_rate
    return dict(
        learning_rate=lr,
        n_steps=cfg.num_steps,
        batch_size=rollout // cfg.num_minibatches,
        n_epochs=cfg.update_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_coef,
        clip_range_vf=cfg.clip_coef if cfg.clip_vloss else None,
        normalize_advantage=cfg.norm_adv,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef / 2,
        max_grad_norm=cfg.max_grad_norm,
        target_kl=None,
        policy_kwargs=dict(net_arch=net_arch(cfg), activation_fn=torch.nn.Tanh),
        device="cpu",
    )


def net_arch(cfg: PPOConfig) -> dict:
    """SB3's ``net_arch`` for separate actor and critic MLPs of ``cfg.hidden_sizes``."""
    return dict(pi=list(cfg.hidden_sizes), vf=list(cfg.hidden_sizes))


def reward_norm_kwargs(cfg: PPOConfig) -> dict:
    """``VecNormalize`` arguments equal to ``agents.ppo.RunningScale``: reward only, no clipping."""
    return dict(norm_obs=False, norm_reward=True, gamma=cfg.gamma, epsilon=1e-8, clip_reward=math.inf)


def summary(values: list[float | None]) -> str:
    """``mean ± sample std`` of ``values`` (the mean alone for one value; ``n/a`` if any is None)."""
    if not values or any(v is None for v in values):
        return "n/a"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {statistics.stdev(values):.3f}"


# --------------------------------------------------------------------------- training


class SB3Policy:
    """An SB3 model behind the testbed's agent interface: ``act(obs, info)``, ``last_evaluations``."""

    def __init__(self, model, action_space):
        self.model = model
        self.dtype = action_space.dtype
        self.last_evaluations = 0

    def act(self, obs, info):
        action, _ = self.model.predict(obs, deterministic=True)
        return np.asarray(action, dtype=self.dtype)


def train_ours(problem: Problem, seed: int, steps: int):
    """``(agent, seconds)``: our PPO with its defaults, trained for ``steps`` env steps."""
    env = problem.make()
    agent = agents.make("ppo", seed=seed, torso="mlp")  # SB3's network: a flat MLP
    t0 = time.perf_counter()
    agent.fit(env, steps)
    seconds = time.perf_counter() - t0
    env.close()
    return agent, seconds


def train_sb3(problem: Problem, seed: int, steps: int, setting: str):
    """``(policy, seconds)``: SB3's PPO in ``setting`` (``same`` or ``defaults``) for ``steps`` env steps."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    cfg = PPOConfig()
    t0 = time.perf_counter()
    if setting == "same":
        vec = DummyVecEnv([lambda: problem.make(references=False)] * cfg.num_envs)
        if cfg.norm_reward:
            vec = VecNormalize(vec, **reward_norm_kwargs(cfg))
        model = PPO("MlpPolicy", vec, seed=seed, **sb3_same_kwargs(cfg, steps))
    elif setting == "defaults":
        vec = DummyVecEnv([lambda: problem.make(references=False)] * SB3_DEFAULT_N_ENVS)
        model = PPO("MlpPolicy", vec, seed=seed, device="cpu", policy_kwargs=dict(net_arch=net_arch(cfg)))
    else:
        raise ValueError(f"peers: unknown SB3 setting {setting!r}; settings: {', '.join(SETTINGS)}")
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - t0
    if model.num_timesteps != steps:
        raise RuntimeError(f"peers: SB3 trained {model.num_timesteps} steps, not {steps}")
    vec.close()
    return SB3Policy(model, model.action_space), seconds


def warm_up(problem: Problem) -> None:
    """Compile (or load) the env's numba kernels before anything is timed: one rollout of ours, one
    step of the single env."""
    cfg = PPOConfig()
    train_ours(problem, 0, cfg.num_envs * cfg.num_steps)
    env = problem.make(references=False)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()


def run_problem(problem: Problem, seeds: int, steps: int) -> str:
    """Train and evaluate every agent on ``problem`` over ``seeds`` seeds; one markdown table row."""
    warm_up(problem)
    scores = {"ours": [], **{s: [] for s in SETTINGS}}
    seconds = {k: [] for k in scores}
    env = problem.make()  # evaluation: the full env, with its reference values
    for seed in range(seeds):
        trained = {"ours": train_ours(problem, seed, steps)}
        for setting in SETTINGS:
            trained[setting] = train_sb3(problem, seed, steps, setting)
        for key, (agent, secs) in trained.items():
            metrics = evaluate(env, agent, EVAL_EPISODES, seed + EVAL_SEED_OFFSET)
            scores[key].append(metrics["normalized_return"])
            seconds[key].append(secs)
        print(f"  {problem.label}, seed {seed}: "
              + ", ".join(f"{k} {summary(v[-1:])} in {seconds[k][-1]:.1f} s" for k, v in scores.items()),
              flush=True)
    env.close()
    times = " / ".join(f"{statistics.fmean(seconds[k]):.1f}" for k in scores)
    return (f"| {problem.label} | {steps:,} | {summary(scores['ours'])} | {summary(scores['same'])} | "
            f"{summary(scores['defaults'])} | {times} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m standin.benchmarks.perf.peers",
        description="Our PPO against Stable-Baselines3's PPO (our hyperparameters and its defaults) at equal env "
        "steps and network sizes on Landscape-v0, Knapsack-v0 and Lock-v0, one core; prints a markdown table.",
    )
    ap.add_argument("--quick", action="store_true",
                    help="one small problem per family, 5,000 steps, 1 seed (about a minute)")
    ap.add_argument("--steps", type=int, help="env steps per agent (default 50,000; --quick 5,000), rounded down "
                    f"to a multiple of {equal_steps(1)}")
    ap.add_argument("--seeds", type=int, help="seeds per problem (default 3; --quick 1)")
    ap.add_argument("--only", nargs="+", choices=FAMILIES, metavar="FAMILY",
                    help=f"only these families, any of: {', '.join(FAMILIES)} (default: all)")
    args = ap.parse_args(argv)
    steps = args.steps if args.steps is not None else (5_000 if args.quick else 50_000)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if steps < 1:
        ap.error("--steps must be >= 1")
    if seeds < 1:
        ap.error("--seeds must be >= 1")
    try:
        import stable_baselines3
    except ImportError:
        sys.exit(f"peers: stable-baselines3 is not installed; install it with {INSTALL_HINT}")

    torch.set_num_threads(1)
    problems = [p for p in (QUICK_PROBLEMS if args.quick else PROBLEMS) if p.family in (args.only or FAMILIES)]
    steps = equal_steps(steps)
    print("\n".join(machine_lines()))
    print(f"peers: stable-baselines3 {stable_baselines3.__version__}; {steps:,} env steps per agent, "
          f"{seeds} seed(s), {EVAL_EPISODES} held-out episodes (seed + {EVAL_SEED_OFFSET:,})")
    print()
    rows = [
        "| problem | steps | ours | SB3 same hyperparameters | SB3 defaults "
        "| train s: ours / SB3 same / SB3 defaults |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for problem in problems:
        rows.append(run_problem(problem, seeds, steps))
    print()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
