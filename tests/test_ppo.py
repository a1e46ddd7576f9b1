"""Tests for ``agents.ppo``: the Bernoulli head, learning a tiny contextual task, determinism, errors."""

from __future__ import annotations

import itertools

import gymnasium
import numpy as np
import pytest
import torch

from standin import (
    agents,
    envs,  # noqa: F401  (registers the standin ids)
)
from standin.agents.ppo import BernoulliHead, CategoricalHead, PPOAgent, PPOConfig, RunningScale, gae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class RecordingLogger:
    def __init__(self):
        self.scalars: dict[str, list[tuple[int, float]]] = {}

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.setdefault(tag, []).append((step, float(value)))


def landscape2():
    return envs.make("standin/Landscape-v0", n=2, alpha=None, context_dim=2)


# ------------------------------------------------------------------------------------ the head


@pytest.mark.parametrize("n", [1, 3, 5])
def test_bernoulli_head_is_a_distribution_over_all_actions(n):
    gen = torch.Generator().manual_seed(n)
    logits = 2.0 * torch.randn((4, n), generator=gen, dtype=torch.float64)
    head = BernoulliHead(logits)
    actions = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)  # (2^n, n)

    # log_prob of every action, for every row of logits
    logp = torch.stack([head.log_prob(a.expand(4, n)) for a in actions], dim=1)  # (4, 2^n)
    torch.testing.assert_close(logp.exp().sum(1), torch.ones(4, dtype=torch.float64))

    # matches the product of per-bit probabilities, computed naively
    p = torch.sigmoid(logits)
    naive = torch.stack([torch.prod(torch.where(a.bool(), p, 1 - p), dim=1) for a in actions], dim=1)
    torch.testing.assert_close(logp, naive.log())

    # entropy matches −Σ p log p over the enumeration
    torch.testing.assert_close(head.entropy(), -(naive * naive.log()).sum(1))

    # mode is the most likely action; samples are 0/1 actions of the right shape
    best = actions[naive.argmax(1)]
    torch.testing.assert_close(head.mode(), best)
    s = head.sample(gen)
    assert s.shape == (4, n) and set(s.unique().tolist()) <= {0.0, 1.0}


def test_bernoulli_head_sample_frequencies_match_probabilities():
    logits = torch.tensor([[-1.0, 0.0, 2.0]])
    head = BernoulliHead(logits.expand(20000, 3))
    freq = head.sample(torch.Generator().manual_seed(0)).mean(0)
    torch.testing.assert_close(freq, torch.sigmoid(logits[0]), atol=0.02, rtol=0)


# ------------------------------------------------------------------------------------------ GAE


def test_gae_hand_computed():
    # column 0: an episode ends at t=1 (no bootstrap across it); γ=0.9, λ=0.8
    #   A2 = 3 + 0.9·2.0 − 1.5 = 3.3;  A1 = 2 − 1.0 = 1.0;  A0 = (1 + 0.9·1.0 − 0.5) + 0.72·A1 = 2.12
    # column 1: V ≡ 0, r ≡ 1, no dones, next value 0, so every δ_t = 1 and A_t = 1 + γλ·A_{t+1}:
    #   A2 = 1;  A1 = 1 + 0.72·1 = 1.72;  A0 = 1 + 0.72·1.72 = 2.2384
    rewards = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], dtype=torch.float64)
    values = torch.tensor([[0.5, 0.0], [1.0, 0.0], [1.5, 0.0]], dtype=torch.float64)
    dones = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    next_value = torch.tensor([2.0, 0.0], dtype=torch.float64)
    got = gae(rewards, values, dones, next_value, gamma=0.9, gae_lambda=0.8)
    want = torch.tensor([[2.12, 2.2384], [1.0, 1.72], [3.3, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(got, want)


# ------------------------------------------------------------------------------------ learning


def test_running_scale_divides_by_the_std_of_every_discounted_return_so_far():
    """Against the readable reference: accumulate each env's discounted return, keep every value, and
    divide the step's rewards by their standard deviation (the streaming update starts from a
    variance of 1 with weight 1e-4, a negligible prior)."""
    rng = np.random.default_rng(0)
    E, gamma = 3, 0.9
    scale = RunningScale(gamma, E)
    returns, seen = np.zeros(E), []
    for step in range(300):
        reward = rng.normal(500.0, 200.0, E)
        done = rng.random(E) < 0.1
        got = scale(reward, done)
        returns = gamma * returns + reward
        seen.extend(returns)
        if step >= 5:
            np.testing.assert_allclose(got, reward / np.std(seen), rtol=1e-3)
        returns[done] = 0.0


@pytest.mark.parametrize("head", ["factored", "autoregressive"])
def test_ppo_learns_two_bit_contextual_task(head):
    env = landscape2()
    agent = agents.make("ppo", seed=0, learning_rate=3e-3, head=head)
    log = RecordingLogger()
    agent.fit(env, 4096, log)

    for tag in [
        "train/episodic_return",
        "train/loss/policy",
        "train/loss/value",
        "train/loss/entropy",
        "train/approx_kl",
        "train/clipfrac",
        "perf/env_steps_per_s",
    ]:
        assert tag in log.scalars, tag
    assert log.scalars["perf/env_steps_per_s"][-1][0] == 4096  # step = env steps so far

    obs, info = env.reset(seed=12345)  # contexts the agent never trained on
    hits = 0
    for _ in range(200):
        action = agent.act(obs, info)
        assert action.dtype == np.int8 and action.shape == (2,)
        assert agent.last_evaluations == 0
        hits += np.array_equal(action, env.unwrapped.optimal_action())
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()
    # An untrained policy is right on ~25% of contexts; this run gets ~97%.
    assert hits / 200 >= 0.9


def test_same_seed_same_actions():
    config = dict(num_envs=2, num_steps=16, num_minibatches=2, update_epochs=2)
    a = agents.make("ppo", seed=7, **config)
    b = agents.make("ppo", seed=7, **config)
    a.fit(landscape2(), 128, RecordingLogger())
    b.fit(landscape2(), 128, RecordingLogger())
    for pa, pb in zip(a.net.parameters(), b.net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)

    observations = np.random.default_rng(0).standard_normal((50, 2)).astype(np.float32)
    assert all(np.array_equal(a.act(o, {}), b.act(o, {})) for o in observations)

    # sampling mode too: the agents' own generators are seeded alike
    a.config.deterministic_eval = b.config.deterministic_eval = False
    assert all(np.array_equal(a.act(o, {}), b.act(o, {})) for o in observations)


@pytest.fixture
def truncating_landscape():
    """Landscape-v0 with episodes of 10 steps cut by a time limit after 3 (truncation, not termination)."""
    env_id = "ppo_test/LandscapeTimeLimit-v0"
    gymnasium.register(env_id, entry_point="standin.envs.landscape:LandscapeEnv", max_episode_steps=3)
    yield gymnasium.make(env_id, n=3, context_dim=2, alpha=None, horizon=10)
    del gymnasium.registry[env_id]


def test_fit_bootstraps_truncated_episodes(truncating_landscape):
    agent = agents.make("ppo", seed=0, num_envs=2, num_steps=8, num_minibatches=2)
    log = RecordingLogger()
    agent.fit(truncating_landscape, 64, log)
    returns = [v for _, v in log.scalars["train/episodic_return"]]
    assert len(returns) == 4  # every rollout of 8 steps finishes episodes of 3
    assert all(-3.0 <= r <= 0.0 for r in returns)  # 3 rewards in [−1, 0] each
    assert all(np.isfinite(v) for _, v in log.scalars["train/loss/value"])


def test_fit_zero_steps_builds_network():
    agent = agents.make("ppo", seed=0)
    agent.fit(landscape2(), 0, RecordingLogger())
    action = agent.act(np.zeros(2, dtype=np.float32), {})
    assert action.dtype == np.int8 and action.shape == (2,)


# -------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_envs", 0),
        ("num_steps", 0),
        ("gamma", 0.0),
        ("gamma", 1.5),
        ("gae_lambda", -0.1),
        ("learning_rate", 0.0),
        ("num_minibatches", 10_000),
        ("clip_coef", 0.0),
        ("hidden_sizes", (64, 0)),
        ("hidden_sizes", 64),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        PPOConfig(**{field: value})


def test_agents_make_rejects_bad_config():
    with pytest.raises(ValueError, match="num_envs"):
        agents.make("ppo", num_envs=0)


def test_continuous_action_space_is_rejected():
    env = gymnasium.make("Pendulum-v1")  # Box actions
    agent = PPOAgent(PPOConfig(), seed=0)
    with pytest.raises(ValueError, match="MultiBinary, MultiDiscrete .rank 1. or Discrete"):
        agent.fit(env, 0, RecordingLogger())


def test_k_of_n_space_gets_the_head_it_needs_and_names_it_when_given_another():
    class KOfN(gymnasium.spaces.MultiBinary):
        k = 2

    env = landscape2()
    env.unwrapped.action_space = KOfN(2)
    agent = PPOAgent(PPOConfig(), seed=0)
    agent.fit(env, 0, RecordingLogger())  # the default head is the one that fits the space
    assert agent.net.head == "without-replacement"
    with pytest.raises(ValueError, match="without-replacement"):
        PPOAgent(PPOConfig(head="factored"), seed=0).fit(env, 0, RecordingLogger())


@pytest.mark.parametrize("nvec", [(3,), (2, 3), (4, 2, 3)])
def test_categorical_head_is_a_distribution_over_all_actions(nvec):
    gen = torch.Generator().manual_seed(len(nvec))
    K = max(nvec)
    allowed = torch.arange(K)[None, :] < torch.tensor(nvec)[:, None]
    allowed = allowed.expand(4, -1, -1).clone()
    allowed[0, 0, 0] = False  # a mask forbids one value in one row
    head = CategoricalHead(torch.randn((4, len(nvec), K), generator=gen, dtype=torch.float64), allowed)
    actions = torch.tensor(list(itertools.product(*(range(v) for v in nvec))), dtype=torch.float64)
    logp = torch.stack([head.log_prob(a.expand(4, -1)) for a in actions], dim=1)  # (4, |A|)
    p = logp.exp()
    torch.testing.assert_close(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert (p[0, actions[:, 0] == 0] == 0).all()  # the masked value never has probability
    torch.testing.assert_close(head.entropy(), -(p * torch.where(p > 0, logp, 0)).sum(1))
    torch.testing.assert_close(head.mode(), actions[p.argmax(1)])
    samples = head.sample(gen)
    assert samples.shape == (4, len(nvec)) and samples[0, 0] != 0
    assert all(((samples[:, c] >= 0) & (samples[:, c] < v)).all() for c, v in enumerate(nvec))


def test_categorical_head_sample_frequencies_match_probabilities():
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[[0.0, 1.0, -1.0]]]).expand(20000, 1, 3)
    head = CategoricalHead(logits, torch.ones(3, dtype=torch.bool))
    counts = torch.bincount(head.sample(gen)[:, 0].long(), minlength=3).double() / 20000
    torch.testing.assert_close(counts, torch.softmax(logits[0, 0].double(), 0), atol=0.015, rtol=0)


def test_ppo_runs_on_a_discrete_action_space():
    env = gymnasium.make("CartPole-v1")  # Discrete(2), Box observations
    agent = PPOAgent(PPOConfig(num_envs=2, num_steps=16), seed=0)
    agent.fit(env, 64, RecordingLogger())
    obs, info = env.reset(seed=0)
    assert agent.act(obs, info) in (0, 1)


def test_act_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        PPOAgent(PPOConfig()).act(np.zeros(2, dtype=np.float32), {})


def test_ppo_without_replacement_head_learns_a_k_of_n_task():
    """Slate-v0 with one topic, no drift and a huge budget: a contextual 2-of-6 choice. The
    without-replacement head must keep exactly 2 items and learn to beat random slates."""
    env = envs.make("standin/Slate-v0", N=6, k=2, topics=1, horizon=1, drift=0.0, budget=1000.0)
    agent = agents.make("ppo", seed=0, head="without-replacement", num_envs=8, num_steps=32)
    agent.fit(env, 6144, RecordingLogger())
    rand = agents.make("random", seed=0)
    rand.fit(env, 0)
    scores = {}  # mean expected engagement of the chosen slates (the env's exact landscape: no click noise)
    for name, a in (("ppo", agent), ("random", rand), ("myopic oracle", None)):
        obs, info = env.reset(seed=77)
        total = 0.0
        for _ in range(300):
            action = env.unwrapped.optimal_action() if a is None else a.act(obs, info)
            assert env.action_space.contains(action)
            total += env.unwrapped.landscape()(action)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
        scores[name] = total / 300
    # seeds 0-2 close 30-37% of the gap between random and the myopic oracle
    assert scores["ppo"] > scores["random"] + 0.2 * (scores["myopic oracle"] - scores["random"])


def test_without_replacement_head_needs_a_k_of_n_space():
    with pytest.raises(ValueError, match="k-of-N spaces"):
        agents.make("ppo", head="without-replacement").fit(landscape2(), 0, RecordingLogger())
