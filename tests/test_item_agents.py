"""Agents on item-structured observations: the item networks are chosen by default, decide the same
for permuted items, and every trained part of an imitation policy learns."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

from standin import agents, envs
from standin.agents.common import ActionCodec
from standin.agents.imitation import ImitationPolicy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ItemsEnv(gymnasium.Env):
    """A bandit over ``n`` bits whose observation is one row per bit: take bit ``i`` iff its row's
    first feature is positive (a user-style env: a ``Box(n, d)`` and nothing else)."""

    def __init__(self, n=6, d=3):
        self.n, self.d = n, d
        self.action_space = gymnasium.spaces.MultiBinary(n)
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (n, d), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.obs = self.np_random.standard_normal((self.n, self.d)).astype(np.float32)
        return self.obs, {}

    def step(self, action):
        reward = float(np.sum(np.where(self.obs[:, 0] > 0, action, -action)))
        return self.reset()[0], reward, True, False, {}


ITEMS_ID = "standin-test/Items-v0"
if ITEMS_ID not in gymnasium.registry:
    gymnasium.register(ITEMS_ID, entry_point=ItemsEnv)


def items_env(n=6):
    return gymnasium.make(ITEMS_ID, n=n)


@pytest.mark.parametrize("name, config", [
    ("ppo", {"num_envs": 4, "num_steps": 32}),
    ("value-search", {"value": "quadratic", "method": "exhaustive", "budget": 64, "warmup_steps": 50}),
    ("value-search", {"value": "mlp", "method": "exhaustive", "budget": 64, "warmup_steps": 50}),
    ("distill", {"teacher_config": {"value": "quadratic", "method": "exhaustive", "budget": 64, "warmup_steps": 50}}),
])
def test_a_user_env_with_item_rows_gets_item_networks_that_decide_alike_for_permuted_items(name, config):
    env = items_env()
    agent = agents.make(name, seed=0, **config)
    agent.fit(env, 600)
    assert agent.chosen()["torso"] == "items"
    rng = np.random.default_rng(3)
    for _ in range(5):
        obs = rng.standard_normal((6, 3)).astype(np.float32)
        perm = rng.permutation(6)
        action = np.asarray(agent.act(obs, {}))
        assert np.array_equal(np.asarray(agent.act(obs[perm], {})), action[perm])


def test_item_networks_learn_the_item_rule_that_flat_ones_must_learn_per_position():
    """With one shared network for every row, ppo learns 'take an item whose first feature is
    positive' from few samples; the score is on fresh observations."""
    env = items_env()
    agent = agents.make("ppo", seed=0, num_envs=4, num_steps=32)
    agent.fit(env, 4096)
    obs, _ = env.reset(seed=11)
    hits = []
    for _ in range(50):
        hits.append(np.mean(np.asarray(agent.act(obs, {})) == (obs[:, 0] > 0)))
        obs, *_ = env.step(agent.act(obs, {}))
    assert np.mean(hits) > 0.9


def test_items_torso_needs_an_item_structured_observation():
    env = envs.make("standin/Landscape-v0", n=6)  # a flat context: no item rows
    for name, config in (("ppo", {}), ("value-search", {"value": "quadratic"}), ("distill", {})):
        with pytest.raises(ValueError, match="torso='items' needs an item-structured observation"):
            agents.make(name, torso="items", **config).fit(env, 0)
    # and mlp is kept on an item env when asked for
    agent = agents.make("ppo", torso="mlp")
    agent.fit(envs.make("standin/Knapsack-v0", n=8), 0)
    assert agent.chosen()["torso"] == "mlp"


@pytest.mark.parametrize("head", ["without-replacement", "autoregressive", "factored"])
def test_imitation_trains_the_head_as_well_as_the_torso(head):
    """Every parameter of the policy's head gets a gradient step (the critic's don't)."""
    space = envs.make("standin/Slate-v0", N=8, k=2).action_space if head == "without-replacement" \
        else gymnasium.spaces.MultiBinary(8)
    torch.manual_seed(0)
    policy = ImitationPolicy(ActionCodec(space), 5, head, (16, 16), 1e-2, "test")
    before = {k: v.detach().clone() for k, v in policy.net.named_parameters()}
    obs = np.random.default_rng(0).standard_normal((32, 5)).astype(np.float32)
    targets = np.zeros((32, 8), np.float32)
    targets[:, :2] = 1
    policy.learn(obs, targets)
    after = dict(policy.net.named_parameters())
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    head_keys = {k for k in after if k.startswith("sequence.") or (head == "factored" and k.startswith("actor."))}
    assert head_keys and head_keys <= changed
    assert not any(k.startswith("critic.") for k in changed)


def test_policies_never_overflow_a_knapsack():
    """Knapsack-v0 declares feasible(): an untrained ppo (whose mode takes about half the items, far
    over the capacity) and a distilled student decode within it."""
    env = envs.make("standin/Knapsack-v0", n=30, capacity_ratio=0.2)
    ppo = agents.make("ppo", seed=0)
    ppo.fit(env, 0)
    with torch.no_grad():  # bias every bit towards 1: the raw mode packs everything
        ppo.net.items.logit.bias.fill_(3.0)
    student = agents.make("distill", seed=0, teacher_config={"budget": 100}, rounds=1)
    student.fit(env, 64)
    obs, info = env.reset(seed=2)
    for _ in range(20):
        for agent in (ppo, student):
            action = agent.act(obs, info)
            assert env.unwrapped.feasible(action), type(agent).__name__
        assert np.asarray(ppo.act(obs, info)).sum() > 0  # it keeps what fits, not nothing
        obs, _, _, _, info = env.step(action)
        obs, info = env.reset()


def test_an_autoregressive_student_decodes_within_a_knapsack():
    """The greedy decode of the autoregressive head is repaired too, dropping the bits it prefers least
    given the bits before them."""
    env = envs.make("standin/Knapsack-v0", n=30, capacity_ratio=0.2)
    student = agents.make("distill", seed=0, teacher_config={"budget": 100}, rounds=1, head="autoregressive")
    student.fit(env, 64)
    head = student.student.net.sequence
    with torch.no_grad():  # prefer 1 for every bit: the raw greedy decode packs everything
        head.direct.bias.view(head.C, head.K)[:, 1] = 5.0
    obs, info = env.reset(seed=2)
    for _ in range(20):
        raw = student.student.net.policy(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)).mode()[0]
        assert not env.unwrapped.feasible(raw.numpy().astype(np.int8))
        action = student.act(obs, info)
        assert env.unwrapped.feasible(action) and np.asarray(action).sum() > 0
        obs, info = env.reset()


def test_repair_drops_the_least_likely_bits_first():
    from standin.agents.common import repair

    class Capacity:
        def feasible(self, action):
            return int(np.dot(action, [5, 4, 3, 2])) <= 7

    bits = np.array([1, 1, 1, 1], np.int8)
    logits = np.array([0.5, 3.0, 2.0, 1.0])
    assert repair(bits, logits, Capacity()).tolist() == [0, 1, 1, 0]  # drops item 0, then item 3
    assert repair(bits, logits, object()) is bits  # no constraint: unchanged
    assert repair(bits, lambda: logits, Capacity()).tolist() == [0, 1, 1, 0]  # logits computed on demand

    def unused():
        raise AssertionError("logits computed for an action that already fits")

    fits = np.array([0, 1, 1, 0], np.int8)
    assert repair(fits, unused, Capacity()) is fits
