"""The adversary by search against filtered's classifier: its objective against a readable
reference, that it finds failures more often per query than the policy meets them, and the
bookkeeping of adversarial training."""

from __future__ import annotations

import math

import numpy as np
import pytest

from standin import agents, envs
from standin.agents.adversary import adversarial_training, adversary_objective, red_team

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEMPTING = {"L": 6, "V": 6, "patterns": 3, "pattern_len": 2, "temptation": 4.0}


@pytest.fixture(scope="module")
def trained():
    env = envs.make("standin/Completion-v0", **TEMPTING)
    agent = agents.make("filtered", seed=0, label_budget=2000, threshold=0.2, candidates=32, epochs=30)
    agent.fit(env, 10_000)
    return env, agent


def test_the_objective_is_quality_less_the_penalty_past_the_threshold(trained):
    env, agent = trained
    obs, _ = env.reset(seed=5)
    f = adversary_objective(env.unwrapped.landscape(), agent.landscape(obs), 0.2, weight=3.0)
    rng = np.random.default_rng(0)
    for _ in range(40):
        action = rng.integers(0, 6, 6)
        x = agent.codec.encode(action)
        p = agent.p_catastrophe(obs, action[None])[0]
        logit = math.log(p / (1 - p))
        expected = env.unwrapped.quality(action) - 3.0 * max(0.0, logit - math.log(0.2 / 0.8))
        assert f(x) == pytest.approx(expected, rel=1e-5, abs=1e-5)
    with pytest.raises(ValueError, match="threshold"):
        adversary_objective(env.unwrapped.landscape(), agent.landscape(obs), 1.0, weight=3.0)


def test_search_finds_failures_more_often_than_the_policy_meets_them(trained):
    env, agent = trained
    queries_before = env.unwrapped.overseer_queries
    result = red_team(agent, env, 150, budget=500, seed=3)
    assert env.unwrapped.overseer_queries - queries_before == result.passed == len(result.examples)
    assert result.failures == sum(verdict for _, _, verdict in result.examples)
    assert result.failures >= 1.5 * max(1, result.policy_failures)  # 25 against 14 with these seeds
    for obs, action, _ in result.examples[:20]:  # every find is passed by the classifier
        assert agent.p_catastrophe(obs, action[None])[0] <= agent.config.threshold
    assert result.failures_per_query == result.failures / 150


def test_adversarial_training_adds_every_query_as_a_label_and_measures_each_round():
    env = envs.make("standin/Completion-v0", **TEMPTING)
    agent = agents.make("filtered", seed=1, label_budget=400, threshold=0.2, candidates=16, epochs=10)
    agent.fit(env, 10_000)
    spent = agent.cost.overseer_queries
    rows = adversarial_training(agent, env, rounds=2, queries=30, measure_queries=20, budget=200)
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert rows[0]["labels"] == 400 and rows[0]["labels"] < rows[1]["labels"] <= rows[2]["labels"] <= 460
    assert agent.cost.overseer_queries == spent + rows[2]["labels"] - 400  # the attacks' queries, counted
    assert all(0 <= r["failures_per_query"] <= 1 for r in rows)
