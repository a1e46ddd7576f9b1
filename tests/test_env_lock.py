"""Lock-v0: the key against numpy, rewards against a hand-written reference, the random-action
expectation against brute force, closed forms and Monte Carlo, the landscape and its deltas, local
search on it, and argument checks."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from standin import search
from standin.envs.lock import LockEnv, LockVectorEnv
from tests import naive


def make(**kwargs) -> LockEnv:
    return LockEnv(**kwargs)


# ------------------------------------------------------------------ slow, readable references


def reference_key(P, context) -> np.ndarray:
    """Bit ``r`` of the key is 1 where ``(P c)_r ≥ 0``."""
    return (P @ np.asarray(context, dtype=np.float64) >= 0.0).astype(np.int8)


def reference_reward(key, action, shaping, power) -> np.ndarray | float:
    """1 for the key, else ``shaping · (fraction of matching bits)^power``; one action or a batch."""
    action = np.asarray(action)
    matches = (action == key).sum(axis=-1)
    n = key.shape[0]
    reward = np.where(matches == n, 1.0, shaping * (matches / n) ** power)
    return float(reward) if reward.ndim == 0 else reward


def all_actions(n) -> np.ndarray:
    """Every binary action of length ``n`` as rows of an int8 ``(2^n, n)`` array."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)


# ------------------------------------------------------------------ key and rewards


@pytest.mark.parametrize("n, d, seed", [(2, 1, 0), (17, 3, 4), (64, 8, 9)])
def test_key_is_the_sign_pattern_of_P_c(n, d, seed):
    env = make(n=n, context_dim=d, horizon=20, instance_seed=seed)
    np.testing.assert_array_equal(env._P, np.random.default_rng(seed).standard_normal((n, d)))
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(10):
        key = env.optimal_action()
        assert key.dtype == np.int8 and key.shape == (n,)
        np.testing.assert_array_equal(key, reference_key(env._P, obs))
        obs, *_ = env.step(rng.integers(0, 2, n).astype(np.int8))


@pytest.mark.parametrize("n, shaping, power", [(2, 0.1, 1.0), (9, 0.5, 3.0), (40, 1.0, 1.5), (33, 0.0, 1.0)])
def test_step_rewards_match_the_reference(n, shaping, power):
    env = make(n=n, context_dim=4, shaping=shaping, power=power, horizon=100, instance_seed=n)
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(n)
    for t in range(30):
        key = reference_key(env._P, obs)
        kind = t % 5
        if kind == 0:
            a = key.copy()
        elif kind == 1:
            a = 1 - key
        elif kind == 2:  # one bit off the key
            a = naive.flipped(key, int(rng.integers(n)))
        else:
            a = rng.integers(0, 2, n).astype(np.int8)
        want = reference_reward(key, a, shaping, power)
        assert env.reward(a) == pytest.approx(want, rel=1e-12, abs=0)
        obs, r, terminated, truncated, info = env.step(a)
        assert not terminated and not truncated
        assert r == pytest.approx(want, rel=1e-12, abs=0)
        if kind == 0:
            assert r == 1.0 == info["optimal_value"]
        elif kind == 1:
            assert r == 0.0  # no bit matches
        elif shaping == 0.0:
            assert r == 0.0  # a pure needle: nothing but the key pays


def test_vector_env_rewards_match_the_reference_per_environment():
    vec = LockVectorEnv(num_envs=5, n=12, context_dim=3, shaping=0.3, power=2.0, horizon=3)
    obs, info = vec.reset(seed=2)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(info["optimal_value"], np.ones(5))
    for _ in range(12):
        keys = np.stack([reference_key(vec.template._P, o) for o in obs])
        actions = rng.integers(0, 2, (5, 12)).astype(np.int8)
        actions[::2] = keys[::2]  # some environments get their key
        want = [reference_reward(k, a, 0.3, 2.0) for k, a in zip(keys, actions, strict=True)]
        obs, reward, terminated, truncated, info = vec.step(actions)
        ended = vec._steps == 0  # next_step autoreset: these ignored their action
        np.testing.assert_allclose(reward[~ended], np.asarray(want)[~ended], rtol=1e-12)


def test_horizon_terminates_with_fresh_contexts_each_step():
    env = make(n=6, context_dim=4, horizon=3)
    obs, _ = env.reset(seed=0)
    seen = [obs]
    for t in range(3):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert terminated == (t == 2) and not truncated
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
        seen.append(obs)
    assert len({o.tobytes() for o in seen}) == len(seen)


# ------------------------------------------------------------------ random_value


@pytest.mark.parametrize("n", [2, 3, 7, 10])
@pytest.mark.parametrize("shaping, power", [(0.0, 1.0), (0.1, 1.0), (0.5, 2.5), (1.0, 7.0)])
def test_random_value_is_the_brute_force_mean_over_all_actions(n, shaping, power):
    env = make(n=n, shaping=shaping, power=power)
    obs, info = env.reset(seed=n)
    key = reference_key(env._P, obs)
    want = reference_reward(key, all_actions(n), shaping, power).mean()
    assert info["random_value"] == pytest.approx(want, rel=1e-12, abs=1e-300)
    assert info["optimal_value"] == 1.0


@pytest.mark.parametrize("n", [2, 100, 1075, 4096])
@pytest.mark.parametrize("shaping", [0.0, 0.1, 1.0])
def test_random_value_matches_the_binomial_moments(n, shaping):
    """``m ~ Binomial(n, 1/2)``: E[m/n] = 1/2 and E[(m/n)²] = 1/4 + 1/(4n); the key's own term
    (``m = n``) pays 1 instead of ``shaping``."""
    needle = 2.0**-n
    linear = needle + shaping * (0.5 - needle)
    square = needle + shaping * (0.25 + 0.25 / n - needle)
    assert make(n=n, shaping=shaping, power=1.0).random_value == pytest.approx(linear, rel=1e-11, abs=1e-300)
    assert make(n=n, shaping=shaping, power=2.0).random_value == pytest.approx(square, rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("shaping, power", [(0.1, 1.0), (0.7, 4.0)])
def test_random_value_matches_monte_carlo_at_n_64(shaping, power):
    num, rounds = 2000, 25
    vec = LockVectorEnv(num_envs=num, n=64, shaping=shaping, power=power, autoreset_mode="same_step")
    _, info = vec.reset(seed=3)
    rng = np.random.default_rng(4)
    rewards = []
    for _ in range(rounds):
        _, reward, terminated, _, info = vec.step(rng.integers(0, 2, (num, 64)).astype(np.int8))
        assert terminated.all()
        rewards.append(reward)
    r = np.concatenate(rewards)
    stderr = r.std(ddof=1) / math.sqrt(r.size)
    assert abs(r.mean() - info["random_value"][0]) < 5.0 * stderr
    assert stderr < 0.01 * info["random_value"][0]  # the bound is tight enough to mean something


def test_references_can_be_switched_off():
    vec = LockVectorEnv(num_envs=3, n=8, references=False)
    _, info = vec.reset(seed=0)
    assert "optimal_value" not in info and "random_value" not in info


# ------------------------------------------------------------------ landscape and search


def near_key_actions(key, rng, count):
    """Random actions, the key, its complement, and actions one or two flips from the key."""
    n = key.shape[0]
    out = [key.copy(), 1 - key]
    for _ in range(count):
        out.append(rng.integers(0, 2, n).astype(np.int8))
        out.append(naive.flipped(key, int(rng.integers(n))))
        i, j = rng.choice(n, 2, replace=False)
        out.append(naive.flipped(key, int(i), int(j)))
    return out


@pytest.mark.parametrize("n, shaping, power", [(2, 0.1, 1.0), (11, 0.4, 2.0), (50, 0.0, 1.0)])
def test_landscape_equals_the_step_reward(n, shaping, power):
    env = make(n=n, shaping=shaping, power=power, horizon=1000)
    env.reset(seed=5)
    rng = np.random.default_rng(1)
    for a in near_key_actions(env.optimal_action(), rng, 5):
        land = env.landscape()
        assert land.m == n
        value = land(a)
        _, r, *_ = env.step(a)
        assert value == r


@pytest.mark.parametrize("n, shaping, power", [(2, 0.1, 1.0), (13, 0.5, 3.0), (64, 1.0, 1.0)])
def test_landscape_deltas_match_recomputation(n, shaping, power):
    env = make(n=n, shaping=shaping, power=power)
    env.reset(seed=6)
    land = env.landscape()
    key = env.optimal_action()
    rng = np.random.default_rng(2)
    for x in near_key_actions(key, rng, 4):
        aux = np.zeros(land.aux_size)
        land.init(x, aux, land.params)
        assert aux[0] == (x == key).sum()
        for _ in range(6):
            i = int(rng.integers(n))
            others = [k for k in range(n) if k != i]
            for j in (-1, int(rng.choice(others))):
                want = naive.move_delta(land, x, i, j)
                assert land.delta(x, aux, land.params, i, j) == pytest.approx(want, rel=1e-12, abs=1e-15)
        # make a two-bit move, then check the incremental state against a fresh one
        i, j = (int(v) for v in rng.choice(n, 2, replace=False))
        land.update(x, aux, land.params, i, j)
        x = naive.flipped(x, i, j)
        assert aux[0] == (x == key).sum()


@pytest.mark.parametrize("n, power", [(32, 1.0), (200, 3.0)])
def test_greedy_search_on_the_shaped_landscape_finds_the_key(n, power):
    env = make(n=n, shaping=0.1, power=power)
    env.reset(seed=7)
    land = env.landscape()
    result = search.maximize(land, env.action_space, "greedy", 20 * n, seed=0)
    assert result.score == 1.0
    np.testing.assert_array_equal(result.action, env.optimal_action())


def test_anneal_runs_on_the_landscape_and_reports_true_values():
    env = make(n=24, shaping=0.2)
    env.reset(seed=8)
    land = env.landscape()
    result = search.maximize(land, env.action_space, "anneal", 5000, seed=1)
    assert result.score == land(result.action)
    assert result.score == 1.0
    np.testing.assert_array_equal(result.action, env.optimal_action())


def test_pure_needle_landscape_is_flat_away_from_the_key():
    env = make(n=40, shaping=0.0)
    env.reset(seed=9)
    land = env.landscape()
    result = search.maximize(land, env.action_space, "greedy", 2000, seed=0)
    assert result.score == 0.0  # no foothold: 2000 evaluations cannot find one action in 2^40


# ------------------------------------------------------------------ arguments and size


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 1}, "n"),
        ({"n": 4097}, "n"),
        ({"n": 2.5}, "n"),
        ({"context_dim": 0}, "context_dim"),
        ({"shaping": 1.5}, "shaping"),
        ({"shaping": -0.1}, "shaping"),
        ({"shaping": float("nan")}, "shaping"),
        ({"power": 0.5}, "power"),
        ({"power": float("inf")}, "power"),
        ({"horizon": 0}, "horizon"),
        ({"instance_seed": -1}, "instance_seed"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"Lock-v0: {name} must be"):
        make(**kwargs)


def test_n_4096_constructs_and_steps_quickly():
    warm = make(n=8)  # compile the kernels outside the timing
    warm.reset(seed=0)
    warm.step(warm.action_space.sample())
    start = time.perf_counter()
    env = make(n=4096, context_dim=16, horizon=10)
    obs, info = env.reset(seed=0)
    for _ in range(10):
        key = env.optimal_action()
        obs, r, *_ = env.step(key)
        assert r == 1.0
    assert time.perf_counter() - start < 1.0
    assert 0.0 < info["random_value"] < 0.1


def test_zero_projection_counts_as_a_one_bit():
    env = make(n=6, context_dim=3)
    env._P[2] = 0.0  # (P c)_2 = 0 for every context
    obs, _ = env.reset(seed=0)
    key = env.optimal_action()
    assert key[2] == 1
    np.testing.assert_array_equal(key, reference_key(env._P, obs))
