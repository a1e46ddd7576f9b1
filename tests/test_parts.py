"""Agents built from parts: value-search with a proposal, exploration rule, replay or value model
passed in, and parts written by a user."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from standin import agents, envs
from standin.agents.exploration import Exploration
from standin.agents.proposals import OnlineProposal, Proposal
from standin.agents.replay import Replay
from standin.agents.value_search import EnvValue, LearnedValue, ValueSearchAgent, ValueSearchConfig
from standin.benchmarks.runner import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHARED = {"value": "quadratic", "budget": 16, "rank": 2, "hidden": 8, "warmup_steps": 40, "method": "anneal"}


def actions(agent, env, seed: int, count: int = 15) -> list:
    obs, info = env.reset(seed=seed)
    out = []
    for _ in range(count):
        action = agent.act(obs, info)
        out.append(np.asarray(action).tolist())
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()
    return out


def test_value_search_given_propose_searchs_proposal_part_is_propose_search():
    """propose-search is value-search built with the proposal its config names, nothing overridden:
    the same proposal passed to value-search trains the same weights and takes the same actions."""
    env = envs.make("standin/Landscape-v0", n=10, alpha=None, context_dim=2)
    built = agents.make("propose-search", seed=3, proposal="online", refine=True, head="factored",
                        proposal_hidden=16, **SHARED)
    given = ValueSearchAgent(ValueSearchConfig(**SHARED), seed=3,
                             proposal=OnlineProposal("factored", (16, 16), 1e-3, refine=True))
    for agent in (built, given):
        agent.fit(env, 200)
    assert built.cost == given.cost and built.cost.gradient_steps > 0
    for key, tensor in built.state_dict()["proposal"].items():
        assert torch.equal(tensor, given.state_dict()["proposal"][key]), key
    assert torch.equal(built.state_dict()["q"]["head.weight"], given.state_dict()["q"]["head.weight"])
    assert actions(built, env, 5) == actions(given, env, 5)
    assert built.chosen() == given.chosen() == {"value": "quadratic", "torso": "mlp", "head": "factored"}


class OptimumProposal(Proposal):
    """A user's proposal: every candidate is the env's optimum (a perfect generator)."""

    def sampler(self, obs, info):
        best = self.bound.codec.encode(self.bound.unwrapped.optimal_action())
        return lambda count, rng: np.repeat(best[None], count, axis=0)


def test_a_users_proposal_is_searched_as_a_built_in_one():
    env = envs.make("standin/Landscape-v0", n=12, alpha=None, context_dim=2)
    rates = {}
    for name, proposal in (("uniform", None), ("optimum", OptimumProposal())):
        config = agents.build_config(ValueSearchConfig, {"value": "oracle", "budget": 2, "method": "random"}, "test")
        agent = ValueSearchAgent(config, seed=0, proposal=proposal)
        agent.fit(env, 0)
        rates[name] = evaluate(env, agent, episodes=60, seed=1)["optimal_rate"]
    assert rates["uniform"] < 0.2  # 2 of 4096 actions
    assert rates["optimum"] == 1.0


class NeverExplore(Exploration):
    """A user's rule: the search's action always, and a count of the decisions it saw."""

    def __init__(self):
        super().__init__(epsilon=0.0)
        self.seen = 0

    def around(self, obs, info, action, explore):
        assert not explore
        self.seen += 1
        return action


def test_a_users_exploration_rule_and_replay_buffer_are_the_ones_training_uses():
    env = envs.make("standin/Landscape-v0", n=8, alpha=None, context_dim=2)
    rule = NeverExplore()
    config = agents.build_config(ValueSearchConfig, {**SHARED, "warmup_steps": 30}, "test")
    built = []

    def replay(capacity, obs_dim, m):  # a user's factory: the built-in ring, remembered
        built.append(Replay(capacity, obs_dim, m))
        return built[-1]

    agent = ValueSearchAgent(config, seed=0, exploration=rule, replay=replay)
    agent.fit(env, 100)
    assert rule.seen == 70  # every decision after warm-up, none explored
    (replay,) = built
    assert replay.size == 100 and agent.cost.search_evaluations >= 70 * 16


def test_a_value_model_passed_in_is_searched_whatever_config_value_says():
    env = envs.make("standin/Landscape-v0", n=6, alpha=None, context_dim=2)
    config = agents.build_config(ValueSearchConfig, {"value": "quadratic", "budget": 64, "method": "anneal"}, "test")
    oracle = ValueSearchAgent(config, seed=0, value_model=EnvValue("oracle"))
    oracle.fit(env, 50)
    assert oracle.value == "oracle" and oracle.q is None and oracle.cost.gradient_steps == 0
    assert evaluate(env, oracle, episodes=30, seed=2)["optimal_rate"] == 1.0  # 64 actions, 64 evaluations
    learned = ValueSearchAgent(ValueSearchConfig(value="oracle", warmup_steps=10, budget=8, batch_size=8), seed=0,
                               value_model=LearnedValue("mlp", hidden=8, ensemble=2))
    learned.fit(env, 40)
    assert learned.value == "mlp" and len(learned.q.members) == 2 and learned.cost.gradient_steps > 0
