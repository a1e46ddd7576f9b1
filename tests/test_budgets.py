"""Training budgets: what each agent spends (``agents.TrainingCost``), how ``distill`` splits its
budget with its teacher, what the runner records, and defaults that run on every registered env."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
import torch

from standin import agents, envs
from standin.benchmarks.runner import run_trials
from standin.benchmarks.suite import Trial

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_ppo_counts_whole_rollouts_and_its_minibatch_steps():
    env = envs.make("standin/Landscape-v0", n=6)
    agent = agents.make("ppo", seed=0, num_envs=4, num_steps=16, num_minibatches=2, update_epochs=3)
    agent.fit(env, 200)  # 3 rollouts of 64 steps: the budget rounded down to whole rollouts
    assert agent.cost.env_steps == 3 * 64
    assert agent.cost.gradient_steps == 3 * 3 * 2
    assert agent.cost.search_evaluations == agent.cost.label_evaluations == 0


def test_value_search_counts_its_steps_updates_and_training_searches():
    env = envs.make("standin/Landscape-v0", n=5)
    steps, batch, warmup = 150, 32, 40
    agent = agents.make("value-search", seed=0, value="quadratic", method="exhaustive", budget=32,
                        batch_size=batch, warmup_steps=warmup, epsilon=0.0, updates_per_step=2, rank=2, hidden=8,
                        final_updates=0)
    agent.fit(env, steps)
    assert agent.cost.env_steps == steps
    assert agent.cost.gradient_steps == 2 * (steps - batch + 1)  # updates start once a batch is stored
    # a bandit bootstraps nothing: the only searches act, one exhaustive search of 2^5 per step after warm-up
    assert agent.cost.search_evaluations == (steps - warmup) * 2**5
    assert agent.cost.label_evaluations == 0


def test_value_search_trains_every_few_steps_when_asked():
    env = envs.make("standin/Landscape-v0", n=5)
    steps, starts = 150, 37
    agent = agents.make("value-search", seed=0, value="quadratic", method="exhaustive", budget=32, batch_size=16,
                        learning_starts=starts, train_every=4, updates_per_step=3, rank=2, hidden=8,
                        final_updates=0)
    agent.fit(env, steps)
    # rounds of 3 updates after env steps 40, 44, ..., 148: the first multiple of 4 with 37 stored
    assert agent.cost.gradient_steps == 3 * len(range(40, steps + 1, 4))
    with pytest.raises(ValueError, match="train_every"):
        agents.make("value-search", train_every=0)


def test_final_updates_add_gradient_steps_but_no_env_steps_and_end_at_rate_zero():
    env = envs.make("standin/Landscape-v0", n=5)
    kw = dict(value="quadratic", method="exhaustive", budget=32, batch_size=16, learning_starts=40, rank=2, hidden=8)
    plain = agents.make("value-search", seed=0, final_updates=0, **kw)
    plain.fit(env, 120)
    default = agents.make("value-search", seed=0, **kw)  # None: as many again as the online phase took
    default.fit(env, 120)
    assert default.cost.gradient_steps == 2 * plain.cost.gradient_steps == 2 * (120 - 40 + 1)
    agent = agents.make("value-search", seed=0, final_updates=25, **kw)
    rates = []
    step = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    with mock.patch.object(torch.optim.Adam, "step", record):
        agent.fit(env, 120)
    assert agent.cost.env_steps == plain.cost.env_steps == 120
    assert agent.cost.gradient_steps == plain.cost.gradient_steps + 25
    # the online steps at lr, then a cosine from lr down towards 0
    online, final = rates[: plain.cost.gradient_steps], rates[plain.cost.gradient_steps:]
    assert set(online) == {agent.config.lr} and final[0] == agent.config.lr
    assert np.all(np.diff(final) < 0) and final[-1] < 0.01 * agent.config.lr
    with pytest.raises(ValueError, match="final_updates"):
        agents.make("value-search", final_updates=-1)


def test_oracle_value_search_spends_nothing_and_does_not_learn():
    env = envs.make("standin/Landscape-v0", n=5)
    agent = agents.make("value-search", value="oracle", budget=16)
    agent.fit(env, 500)
    assert agent.cost == agents.TrainingCost()
    assert not agents.trains("value-search", {"value": "oracle"})
    assert agents.trains("value-search", {"value": "mlp"})
    assert agents.trains("propose-search", {"value": "oracle", "proposal": "online"})
    assert not agents.trains("propose-search", {"value": "oracle", "proposal": "uniform"})
    # value=None follows the env: its own landscape where it has one, a learned quadratic otherwise
    landscape_env = envs.env_class("standin/Landscape-v0")
    assert not agents.trains("value-search", {}, landscape_env)
    assert agents.trains("value-search", {}, object())


def test_distill_spends_one_budget_on_its_teacher_and_its_student():
    env = envs.make("standin/Landscape-v0", n=4)
    teacher = {"value": "quadratic", "method": "exhaustive", "budget": 16, "warmup_steps": 20, "batch_size": 16,
               "rank": 2, "hidden": 8}
    agent = agents.make("distill", seed=0, teacher_config=teacher, rounds=3, batch_size=32, epochs=1)
    assert agent.budget_split(300, env) == (150, 150)  # a teacher that learns gets half by default
    agent.fit(env, 301)
    assert agent.teacher.cost.env_steps == 150
    assert agent.cost.env_steps == 301  # the teacher's 150 and the student's 151, in rounds of 51, 50, 50
    # every student step is labelled by one exhaustive teacher search over the 16 actions
    assert agent.cost.label_evaluations == 151 * 16
    assert agent.cost.search_evaluations == agent.teacher.cost.search_evaluations + 151 * 16
    student_steps = sum(int(np.ceil(size / 32)) for size in (51, 101, 151))  # one epoch over all labels so far
    assert agent.cost.gradient_steps == agent.teacher.cost.gradient_steps + student_steps

    oracle = agents.make("distill", teacher_config={"value": "oracle", "method": "exhaustive", "budget": 16})
    assert oracle.budget_split(300, env) == (0, 300)  # a teacher that doesn't learn gets nothing
    fixed = agents.make("distill", teacher_config=teacher, teacher_steps=300)
    with pytest.raises(ValueError, match="teacher_steps"):
        fixed.fit(env, 300)


def test_runner_records_what_training_spent(tmp_path):
    trials = [
        Trial("tiny", "standin/Landscape-v0", {"n": 4}, "ppo", {"num_envs": 2, "num_steps": 16}, 0, 100, 3),
        Trial("tiny", "standin/Landscape-v0", {"n": 4}, "value-search",
              {"value": "quadratic", "method": "exhaustive", "budget": 16, "batch_size": 16, "warmup_steps": 10,
               "epsilon": 0.0}, 0,
              100, 3),
        Trial("tiny", "standin/Landscape-v0", {"n": 4}, "random", {}, 0, 0, 3),
    ]
    run_trials(trials, tmp_path, workers=1, progress=False)
    records = {r["agent"]: r for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())}
    ppo, learned, random = (records[name]["metrics"] for name in ("ppo", "value-search", "random"))
    assert ppo["train_budget"] == 100 and ppo["train_env_steps"] == 96 and ppo["train_gradient_steps"] == 3 * 4 * 4
    assert learned["train_env_steps"] == 100 and learned["train_gradient_steps"] == 2 * (100 - 16 + 1)  # and final
    assert learned["train_search_evaluations"] == 90 * 16 and learned["train_label_evaluations"] == 0
    assert random["train_env_steps"] == random["train_gradient_steps"] == 0
    assert learned["train_seconds"] > 0


@pytest.mark.parametrize("env_id", envs.ids())
def test_every_agents_default_config_runs_on_every_registered_env(env_id):
    """Heads and values are chosen from the env when a config leaves them out (the oracle agent
    needs a known optimum, which Swarm-v0 does not have, and filtered an overseer, which only
    Completion-v0 has: they say so)."""
    for name in agents.names():
        env = envs.make(env_id)
        agent = agents.make(name, seed=0)
        if name == "oracle" and not hasattr(env.unwrapped, "optimal_action"):
            with pytest.raises(ValueError, match="no optimal_action"):
                agent.fit(env, 0)
            continue
        if name == "filtered" and not hasattr(env.unwrapped, "overseer"):
            with pytest.raises(ValueError, match="no overseer"):
                agent.fit(env, 0)
            continue
        agent.fit(env, 64)
        obs, info = env.reset(seed=0)
        assert env.action_space.contains(agent.act(obs, info)), (env_id, name)


def test_value_search_learning_starts_delays_the_first_update_by_default_a_tenth_of_the_budget():
    env = envs.make("standin/Landscape-v0", n=4)
    small = dict(value="quadratic", method="exhaustive", batch_size=16, warmup_steps=10, rank=2, hidden=8,
                 final_updates=0)
    default = agents.make("value-search", seed=0, **small)
    default.fit(env, 400)
    assert default.cost.gradient_steps == 400 - 40 + 1  # the first update once 400 // 10 samples are stored
    explicit = agents.make("value-search", seed=0, learning_starts=100, **small)
    explicit.fit(env, 400)
    assert explicit.cost.gradient_steps == 400 - 100 + 1
    with pytest.raises(ValueError, match="learning_starts=500 exceeds the replay buffer"):
        agents.make("value-search", seed=0, learning_starts=500, **small).fit(env, 400)
