"""The value-search agent: exported landscapes match the network, search acts on them, it learns."""

import itertools

import gymnasium
import numpy as np
import pytest
import scipy.stats
import torch

from standin import agents, envs
from standin.agents.value_search import LowRankQuadraticQ
from standin.benchmarks.runner import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("rank,context_rank", [(3, 0), (3, 2), (4, 4)])
def test_exported_quadratic_equals_the_network_on_every_action(rank, context_rank):
    torch.manual_seed(0)
    n = 5
    q = LowRankQuadraticQ(obs_dim=3, n=n, rank=rank, context_rank=context_rank, hidden=8)
    with torch.no_grad():  # make every part non-trivial
        for p in q.parameters():
            p.add_(0.3 * torch.randn_like(p))
    obs = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    land = q.landscape(obs)
    actions = np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.float32)
    with torch.no_grad():
        net = q(torch.from_numpy(np.repeat(obs[None], len(actions), 0)), torch.from_numpy(actions)).numpy()
    np.testing.assert_allclose(land(actions), net, rtol=1e-5, atol=1e-5)


def evaluate_oracle_search(n: int, method: str, budget: int) -> dict:
    env = envs.make("standin/Landscape-v0", n=n, alpha=0.5)
    agent = agents.make("value-search", seed=0, value="oracle", method=method, budget=budget)
    agent.fit(env, 0)
    return evaluate(env, agent, episodes=10, seed=3)


def test_oracle_value_with_exhaustive_search_is_optimal():
    m = evaluate_oracle_search(n=8, method="exhaustive", budget=256)
    assert m["optimal_rate"] == 1.0
    assert m["evaluations_per_decision"] == 256


def test_budget_is_reported_per_decision():
    assert evaluate_oracle_search(n=16, method="anneal", budget=50)["evaluations_per_decision"] == 50


def test_learned_quadratic_beats_random_on_a_smooth_landscape():
    """A 1500-step regression on n = 6 must come close to the optimum (seeds 0-2 give 0.97)."""
    env = envs.make("standin/Landscape-v0", n=6, alpha=None, context_dim=2)
    agent = agents.make("value-search", seed=0, value="quadratic", method="exhaustive", budget=64,
                        rank=2, hidden=32, warmup_steps=300, lr=3e-3)
    agent.fit(env, 1500)
    m = evaluate(env, agent, episodes=100, seed=11)
    assert m["normalized_return"] > 0.85


def test_same_seed_same_decisions():
    env = envs.make("standin/Landscape-v0", n=8, alpha=0.5)
    runs = []
    for _ in range(2):
        agent = agents.make("value-search", seed=4, value="quadratic", budget=200, rank=2, hidden=16,
                            warmup_steps=50, batch_size=16)
        agent.fit(env, 120)
        obs, info = env.reset(seed=9)
        runs.append(np.stack([agent.act(obs, info) for _ in range(5)]))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("field,value", [("budget", 0), ("context_rank", 20), ("epsilon", 1.5), ("value", "neural")])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        agents.make("value-search", **{field: value})


def test_exported_mlp_value_equals_the_network_on_every_action():
    import itertools

    import torch

    from standin.agents.value_search import MLPQ

    torch.manual_seed(0)
    q = MLPQ(obs_dim=3, n=5, hidden=16)
    obs = np.array([0.3, -1.2, 0.7], dtype=np.float32)
    land = q.landscape(obs)
    actions = np.array(list(itertools.product([0, 1], repeat=5)), dtype=np.int8)
    with torch.no_grad():
        want = q(torch.as_tensor(np.tile(obs, (len(actions), 1))), torch.as_tensor(actions, dtype=torch.float32))
    np.testing.assert_allclose(land(actions), want.double().numpy(), rtol=1e-5, atol=1e-5)


def test_learned_mlp_value_beats_random_on_a_smooth_landscape():
    env = envs.make("standin/Landscape-v0", n=6, alpha=None, context_dim=2)
    agent = agents.make("value-search", seed=0, value="mlp", method="exhaustive", budget=64, hidden=32,
                        warmup_steps=300, lr=3e-3)
    agent.fit(env, 1500)
    m = evaluate(env, agent, episodes=100, seed=11)
    assert m["normalized_return"] > 0.85
    assert m["evaluations_per_decision"] == 64


@pytest.mark.parametrize("value", ["quadratic", "mlp"])
def test_shortfall_split_matches_brute_force(value):
    """search error = Q̂(best under Q̂) − Q̂(taken), value error = r(a*) − r(best under Q̂), both
    recomputed here by enumerating all 2^8 actions."""
    import itertools

    env = envs.make("standin/Landscape-v0", n=8, alpha=0.5, context_dim=2)
    agent = agents.make("value-search", seed=0, value=value, method="anneal", budget=8, rank=2, hidden=16,
                        warmup_steps=50)
    agent.fit(env, 200)
    actions = np.array(list(itertools.product([0, 1], repeat=8)), dtype=np.int8)
    obs, info = env.reset(seed=5)
    for _ in range(5):
        action = agent.act(obs, info)
        part = agent.shortfall(obs, info, action)
        learned, true = agent.q.landscape(obs), env.unwrapped.landscape()
        q_all, r_all = learned(actions), true(actions)
        best_q = actions[np.argmax(q_all)]
        assert part["split_by"] == "exhaustive"
        # in reward units: Q̂ regresses rewards divided by agent.reward_scale
        assert part["search_error"] == pytest.approx((q_all.max() - learned(action)) * agent.reward_scale, abs=1e-9)
        assert part["search_error"] >= -1e-12
        assert part["value_error"] == pytest.approx(r_all.max() - true(best_q), abs=1e-9)
        # a bandit: Q = r, so the fit is measured against the true reward, in reward units
        over = learned(action) * agent.reward_scale - true(action)
        assert part["overestimation"] == pytest.approx(over, abs=1e-9)
        assert part["fit_error_search"] == pytest.approx(abs(over), abs=1e-9)
        # 32 uniform actions: their root mean square error lies within the range of all errors
        errors = np.abs(q_all * agent.reward_scale - r_all)
        assert errors.min() - 1e-9 <= part["fit_error_uniform"] <= errors.max() + 1e-9
        env.step(action)
        obs, info = env.reset()


def test_shortfall_split_is_for_learned_values_on_oracle_landscapes():
    env = envs.make("standin/Landscape-v0", n=8)
    agent = agents.make("value-search", value="oracle", budget=8)
    agent.fit(env, 0)
    obs, info = env.reset(seed=0)
    assert agent.shortfall(obs, info, agent.act(obs, info)) is None
    swarm = envs.make("standin/Swarm-v0", N=2, G=6)
    learned = agents.make("value-search", value="quadratic", budget=8, rank=2, hidden=8)
    learned.fit(swarm, 0)
    obs, info = swarm.reset(seed=0)
    assert learned.shortfall(obs, info, learned.act(obs, info)) is None  # a heuristic landscape is no truth


def test_value_fit_is_measured_only_where_q_is_the_one_step_reward():
    """On a multi-step env (Lock with horizon 3 bootstraps) the learned Q is not the reward: no fit
    metrics; on the same env as a bandit they are there."""
    for horizon, measured in ((3, False), (1, True)):
        env = envs.make("standin/Lock-v0", n=6, horizon=horizon)
        agent = agents.make("value-search", seed=0, value="quadratic", method="exhaustive", budget=64, rank=2,
                            hidden=8, warmup_steps=20, batch_size=16)
        agent.fit(env, 60)
        assert agent.bandit is measured
        obs, info = env.reset(seed=1)
        part = agent.shortfall(obs, info, agent.act(obs, info))
        assert (part["overestimation"] is not None) is measured
        assert (part["fit_error_uniform"] is not None) is measured


def test_shortfall_split_beyond_enumeration_uses_a_bigger_search():
    env = envs.make("standin/Landscape-v0", n=64, alpha=0.5)
    agent = agents.make("value-search", seed=0, value="quadratic", method="anneal", budget=50, rank=2, hidden=16)
    agent.fit(env, 0)
    obs, info = env.reset(seed=1)
    part = agent.shortfall(obs, info, agent.act(obs, info))
    assert part["split_by"] == "100x budget"
    assert part["value_error"] >= 0  # the env's optimum is exact


@pytest.mark.parametrize("n, how", [(8, "exhaustive"), (64, "100x budget")])
def test_shortfall_splits_captured_at_each_decision_and_batched_later_match_single_splits(n, how):
    """The runner captures each decision's state (its true landscape moves on with the env) and splits
    a few at a time: the same splits as one at a time (exhaustive), or of the same quality (the 100x
    searches, run as one batch, draw other seeds)."""
    env = envs.make("standin/Landscape-v0", n=n, alpha=0.5)
    agent = agents.make("value-search", seed=0, value="quadratic", method="anneal", budget=50, rank=2, hidden=16,
                        warmup_steps=50)
    agent.fit(env, 200)
    obs, info = env.reset(seed=3)
    captures, singles = [], []
    for _ in range(4):
        action = agent.act(obs, info)
        singles.append(agent.shortfall(obs, info, action))
        captures.append(agent.shortfall_capture(obs, info, action))
        obs, _, _, _, info = env.step(action)
        obs, info = env.reset()
    batched = agent.shortfall_batch(captures)
    assert len(batched) == 4 and {p["split_by"] for p in batched} == {how}
    for got, want in zip(batched, singles, strict=True):
        assert got["value_error"] >= -1e-9  # the env's optimum is exact
        if how == "exhaustive":
            for key in ("search_error", "value_error", "overestimation", "fit_error_search"):
                assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6)
        else:  # 100x the budget finds Q̂'s maximum, or nearly, whatever the seed (near-ties of Q̂ can
            # differ in their true value: the value error is an estimate)
            assert got["search_error"] == pytest.approx(want["search_error"], abs=0.01 * agent.reward_scale)


class Chain(gymnasium.Env):
    """Two steps. Step 1: reward 0.1·a[0] − 0.05·a[1], and a[1] sets a flag. Step 2: reward 1 if the
    flag is set.

    Optimal return 1.05 (a = (1, 1), then anything); a myopic value prefers a[1] = 0 and gets 0.1."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.action_space = gymnasium.spaces.MultiBinary(2)
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (3,), np.float32)

    def _obs(self):
        return np.array([self.t == 0, self.t == 1, self.flag], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.flag = 0, 0
        return self._obs(), {}

    def step(self, action):
        if self.t == 0:
            reward, self.flag = 0.1 * float(action[0]) - 0.05 * float(action[1]), int(action[1])
        else:
            reward = float(self.flag)
        self.t += 1
        return self._obs(), reward, self.t == 2, False, {}


@pytest.mark.parametrize("gamma,target_search,want", [(0.9, True, 1.05), (0.9, False, 1.05), (0.0, True, 0.1)])
def test_q_learning_credits_a_delayed_reward(gamma, target_search, want):
    env = Chain()
    agent = agents.make("value-search", seed=0, value="quadratic", method="exhaustive", budget=4, rank=2, hidden=16,
                        warmup_steps=200, lr=3e-3, batch_size=32, gamma=gamma, target_search=target_search,
                        target_update=50)
    agent.fit(env, 1000)
    returns = []
    for episode in range(20):
        obs, info = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            obs, reward, done, _, info = env.step(agent.act(obs, info))
            total += reward
        returns.append(total)
    assert np.mean(returns) == pytest.approx(want)


def test_exploration_by_moves_stays_one_move_from_the_search_and_honours_masks():
    swarm = envs.make("standin/Swarm-v0", N=4, G=6)
    agent = agents.make("value-search", seed=0, value="quadratic", exploration="moves", budget=16, rank=2, hidden=8)
    agent.fit(swarm, 0)
    obs, info = swarm.reset(seed=3)
    for _ in range(20):
        action = agent.act(obs, info)
        moved = agent.exploration.around(obs, info, action, True)
        assert np.sum(moved != action) == 1  # one component changed
        assert all(info["action_mask"][c, moved[c]] for c in range(4))
    bits = envs.make("standin/Landscape-v0", n=12)
    agent = agents.make("value-search", seed=0, value="quadratic", exploration="moves", explore_moves=3, budget=16,
                        rank=2, hidden=8, warmup_steps=20, epsilon=0.5)
    agent.fit(bits, 60)  # trains with it
    obs, info = bits.reset(seed=0)
    action = agent.act(obs, info)
    assert 1 <= np.sum(agent.exploration.around(obs, info, action, True) != action) <= 3


def test_boltzmann_exploration_draws_neighbours_in_proportion_to_exp_q_over_temperature():
    """Candidates are the search's action and every action one move from it (masked moves excluded),
    drawn ∝ exp(Q̂ / T): frequencies over 4000 draws match the enumerated softmax (chi-square)."""
    swarm = envs.make("standin/Swarm-v0", N=2, G=5, obstacle_density=0.3)
    agent = agents.make("value-search", seed=0, value="mlp", exploration="boltzmann", temperature=0.05, budget=16,
                        hidden=8)
    agent.fit(swarm, 0)
    obs, info = swarm.reset(seed=1)
    action = agent.act(obs, info)
    # the readable reference: enumerate the one-move neighbours by hand and score them one at a time
    candidates = [tuple(action)]
    for c in range(2):
        for v in range(5):
            if v != action[c] and info["action_mask"][c, v]:
                candidates.append(tuple(v if j == c else action[j] for j in range(2)))
    with torch.no_grad():
        q = np.array([float(agent.q(torch.tensor(obs, dtype=torch.float32).reshape(1, -1),
                                    torch.from_numpy(agent.codec.encode(np.array(a)).astype(np.float32))[None]))
                      for a in candidates])
    p = np.exp((q - q.max()) / 0.05)
    p /= p.sum()
    draws = [tuple(agent.exploration.around(obs, info, action, False)) for _ in range(4000)]
    assert set(draws) <= set(candidates)
    counts = np.array([draws.count(a) for a in candidates])
    expected = 4000 * p
    keep = expected >= 5  # chi-square over the cells with enough mass; the rest pooled
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    if expected[-1] < 5:
        observed, expected = observed[:-1], expected[:-1] * observed[:-1].sum() / expected[:-1].sum()
    assert len(observed) >= 2
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    # trains with it
    bits = envs.make("standin/Landscape-v0", n=10)
    agent = agents.make("value-search", seed=0, value="quadratic", exploration="boltzmann", budget=16, rank=2,
                        hidden=8, warmup_steps=20)
    agent.fit(bits, 60)


def test_learned_values_regress_in_units_of_the_reward_scale():
    """Rewards are divided by their early root mean square before regression, so a reward scaled by
    1000 gives a scale 1000 times larger and the same decisions."""
    def trained(factor):
        env = gymnasium.wrappers.TransformReward(envs.make("standin/Landscape-v0", n=10), lambda r: factor * r)
        agent = agents.make("value-search", seed=0, value="quadratic", budget=64, rank=2, hidden=16,
                            warmup_steps=100, batch_size=32)
        agent.fit(env, 300)
        return agent, env
    small, env = trained(1.0)
    large, _ = trained(1000.0)
    assert small.reward_scale > 0
    assert large.reward_scale == pytest.approx(1000 * small.reward_scale, rel=1e-4)
    same = 0
    for seed in range(20):
        obs, info = env.reset(seed=100 + seed)
        same += np.array_equal(small.act(obs, info), large.act(obs, info))
    assert same >= 18


def test_bellman_targets_search_within_the_next_states_masks():
    """Swarm-v0 bootstraps (horizon 8) and masks wall moves: the target searches must respect the
    mask of the next state (a masked-out value would be an error in search)."""
    env = envs.make("standin/Swarm-v0", N=2, G=5, obstacle_density=0.3, horizon=8)
    agent = agents.make("value-search", seed=0, value="quadratic", budget=16, target_budget=8, warmup_steps=40,
                        batch_size=16, rank=2, hidden=8, gamma=0.9)
    agent.fit(env, 150)
    obs, info = env.reset(seed=2)
    action = agent.act(obs, info)
    assert all(info["action_mask"][c, action[c]] for c in range(2))


@pytest.mark.parametrize("env_id,value", [("standin/Landscape-v0", "quadratic"), ("standin/Landscape-v0", "mlp"),
                                          ("standin/Knapsack-v0", "quadratic"), ("standin/Knapsack-v0", "mlp")])
def test_an_ensemble_searches_the_mean_of_its_members_exported_exactly(env_id, value):
    """Flat and item torsos: the exported landscape of an ensemble equals the members' mean on every
    action, and one gradient step trains every member."""
    env = envs.make(env_id, n=6)
    agent = agents.make("value-search", seed=0, value=value, method="exhaustive", ensemble=3, hidden=16, rank=3,
                        batch_size=16, warmup_steps=20)
    agent.fit(env, 120)
    assert len(agent.q.members) == 3 and agent.cost.gradient_steps == 2 * (120 - 16 + 1)  # and the final fit
    obs, _ = env.reset(seed=5)
    land = agent.q.landscape(obs)
    actions = np.array(list(itertools.product((0, 1), repeat=6)), dtype=np.float32)
    states = torch.from_numpy(np.repeat(np.ravel(obs)[None], len(actions), 0).astype(np.float32))
    with torch.no_grad():
        members = agent.q.member_outputs(states, torch.from_numpy(actions)).numpy()
    assert np.ptp(members, axis=0).max() > 1e-3  # the members differ: their mean is not any one of them
    np.testing.assert_allclose(land(actions), members.mean(0), rtol=1e-4, atol=1e-4)
    assert [type(x) for x in agent.q.landscapes(np.ravel(obs)[None])] == [type(land)]
