"""Tests for ``agents.propose_search``: the proposal learns from the search, masks, k-of-N, refine."""

from __future__ import annotations

import numpy as np
import pytest

from standin import agents, envs
from standin.benchmarks.runner import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_online_proposal_learns_from_the_search_and_beats_uniform_candidates():
    """16 candidates per decision on a smooth 2^16 landscape: uniform ones are poor; a proposal
    trained by maximum likelihood on the search's picks concentrates near the optimum."""
    env = envs.make("standin/Landscape-v0", n=16, alpha=None, context_dim=4)
    scores = {}
    for proposal in ("uniform", "online"):
        agent = agents.make("propose-search", seed=0, value="oracle", proposal=proposal, budget=16,
                            proposal_lr=3e-3)
        agent.fit(env, 1500)
        scores[proposal] = evaluate(env, agent, episodes=100, seed=3)["normalized_return"]
        assert agent.last_evaluations == 16
    assert scores["uniform"] < 0.6  # seeds 0-1: 0.44-0.46
    assert scores["online"] > 0.9  # seeds 0-1: 0.99


def test_proposals_honour_masks_and_categorical_components():
    env = envs.make("standin/Swarm-v0", N=3, G=6)
    agent = agents.make("propose-search", seed=0, value="heuristic", budget=32)
    agent.fit(env, 100)
    obs, info = env.reset(seed=1)
    for _ in range(20):
        action = agent.act(obs, info)
        mask = info["action_mask"]
        assert all(mask[c, action[c]] for c in range(3))
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


@pytest.mark.parametrize("refine", [False, True])
def test_k_of_n_proposals_keep_k_items(refine):
    env = envs.make("standin/Slate-v0", N=10, k=3, topics=2)
    agent = agents.make("propose-search", seed=0, value="oracle", budget=24, refine=refine, method="anneal")
    agent.fit(env, 80)
    assert agent.proposal.policy.head == "without-replacement"  # the default for k-of-N spaces
    obs, info = env.reset(seed=2)
    for _ in range(10):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


def test_learned_value_with_online_proposal_trains_both_deterministically():
    env = envs.make("standin/Landscape-v0", n=8, alpha=None, context_dim=2)

    def trained(steps):
        agent = agents.make("propose-search", seed=0, value="quadratic", budget=16, rank=2, hidden=16,
                            warmup_steps=100, head="autoregressive")
        agent.fit(env, steps)
        return agent, [p.detach().clone().numpy() for p in agent.proposal.policy.net.actor.parameters()]

    agent, first = trained(400)
    _, again = trained(400)
    _, untrained = trained(0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))  # same seed, same proposal
    assert not all(np.allclose(a, b) for a, b in zip(first, untrained, strict=True))  # the search taught it
    assert evaluate(env, agent, episodes=50, seed=4)["normalized_return"] > 0.5


def test_a_head_that_does_not_fit_the_space_is_named():
    env = envs.make("standin/Landscape-v0", n=8)
    with pytest.raises(ValueError, match="without-replacement"):
        agents.make("propose-search", head="without-replacement").fit(env, 0)


def test_a_trained_ppo_checkpoint_proposes_the_candidates(tmp_path):
    """Two candidates per decision on a 2-bit task: uniform ones find the optimum about 44% of the
    time (1 − (3/4)²); candidates from a trained ppo policy almost always."""
    from standin.benchmarks.runner import run_trials
    from standin.benchmarks.suite import Trial

    env_kwargs = {"n": 2, "alpha": None, "context_dim": 2}
    run_trials([Trial("t", "standin/Landscape-v0", env_kwargs, "ppo", {"learning_rate": 3e-3}, 0, 4096, 5)],
               tmp_path, workers=1, progress=False)
    path = next((tmp_path / "checkpoints").glob("*.pt"))
    env = envs.make("standin/Landscape-v0", **env_kwargs)
    rates = {}
    for proposal, extra in (("uniform", {}), ("checkpoint", {"proposal_checkpoint": str(path)})):
        agent = agents.make("propose-search", seed=0, value="oracle", proposal=proposal, budget=2, **extra)
        agent.fit(env, 0)
        rates[proposal] = evaluate(env, agent, episodes=200, seed=5)["optimal_rate"]
    assert rates["uniform"] < 0.6
    assert rates["checkpoint"] > 0.9


def test_checkpoint_proposal_needs_a_ppo_checkpoint_of_the_same_space(tmp_path):
    with pytest.raises(ValueError, match="go together"):
        agents.make("propose-search", proposal="checkpoint")
    with pytest.raises(ValueError, match="no such checkpoint"):
        agents.make("propose-search", proposal="checkpoint",
                    proposal_checkpoint=str(tmp_path / "none.pt")).fit(envs.make("standin/Landscape-v0", n=2), 0)
