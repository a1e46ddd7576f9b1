"""Landscape-v0: rewards against the literal definition in tests/naive.py, the planted optimum,
the reference values, seeding and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from standin import envs
from tests import naive

ENV_ID = "standin/Landscape-v0"


def make(**kwargs):
    return envs.make(ENV_ID, **kwargs)


@pytest.mark.parametrize("n", [2, 7, 33])
@pytest.mark.parametrize("alpha, field", [(0.25, 0.1), (0.5, 0.0), (1.0, 1.0), (2.0, 0.3), (None, 0.1)])
def test_landscape_and_step_reward_agree_with_naive_reward(n, alpha, field):
    env = make(n=n, context_dim=3, alpha=alpha, field=field, horizon=100, instance_seed=n)
    obs, _ = env.reset(seed=n)
    rng = np.random.default_rng(0)
    for _ in range(15):
        a = rng.integers(0, 2, size=n).astype(np.int8)
        land = env.unwrapped.landscape()
        want = naive.env_reward(env, obs, a)
        from_landscape = land(a)
        obs, r, terminated, truncated, _ = env.step(a)
        assert not terminated and not truncated
        assert r == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert from_landscape == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n, alpha", [(80, 0.25), (80, 1.0), (150, 2.0)])
def test_the_dense_landscape_from_the_gram_matrix_is_the_factored_one(n, alpha, monkeypatch):
    """Where the dense form is the cheaper to search, landscape() builds it from ``W Wᵀ`` (kept on
    the env) in O(n²): the same function as the factors give, exactly symmetric."""
    import standin.envs.landscape as module

    env = make(n=n, alpha=alpha, field=0.2, horizon=100)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        dense = env.unwrapped.landscape()
        assert dense.form == "dense" and env.unwrapped._gram is not None
        np.testing.assert_array_equal(dense.J, dense.J.T)
        assert not np.diagonal(dense.J).any()
        with monkeypatch.context() as patch:
            patch.setattr(module, "GRAM_MAX_N", 0)
            factored = env.unwrapped.landscape()
        actions = rng.integers(0, 2, size=(40, n))
        scale = np.abs(factored(actions)).max()
        np.testing.assert_allclose(dense(actions), factored(actions), rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(dense(actions[:3]), [env.unwrapped.reward(a) for a in actions[:3]],
                                   rtol=0, atol=1e-12 * scale)
        env.step(actions[0])


def test_reward_method_agrees_with_naive_reward_on_a_batch_of_actions():
    env = make(n=10, alpha=0.5, field=0.2)
    obs, _ = env.reset(seed=3)
    actions = np.array(list(naive.all_actions(10)))
    want = naive.env_reward(env, obs, actions)
    got = [env.unwrapped.reward(a) for a in actions]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(env.unwrapped.landscape()(actions), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [5, 12])
@pytest.mark.parametrize("alpha", [0.25, 1.0, None])
def test_planted_optimum_is_the_unique_brute_force_maximum_with_value_zero(n, alpha):
    env = make(n=n, alpha=alpha, field=0.1, horizon=10, instance_seed=7)
    obs, info = env.reset(seed=1)
    for _ in range(2):
        best, argmax = naive.brute_force_max(lambda a, obs=obs: naive.env_reward(env, obs, a), n)
        opt = env.unwrapped.optimal_action()
        assert len(argmax) == 1
        np.testing.assert_array_equal(argmax[0], opt)
        np.testing.assert_array_equal(opt, (naive.landscape_target(env.unwrapped._P, obs) + 1) / 2)
        assert best == pytest.approx(0.0, abs=1e-12)
        assert info["optimal_value"] == 0.0
        obs, r, _, _, info = env.step(opt)
        assert r == pytest.approx(info["optimal_value"], abs=1e-12)


def test_without_field_the_mirror_of_the_optimum_is_also_optimal():
    env = make(n=8, alpha=0.5, field=0.0)
    obs, _ = env.reset(seed=0)
    opt = env.unwrapped.optimal_action()
    assert naive.env_reward(env, obs, opt) == pytest.approx(0.0, abs=1e-12)
    assert naive.env_reward(env, obs, 1 - opt) == pytest.approx(0.0, abs=1e-12)


def test_zero_projection_counts_as_plus_one():
    env = make(n=6, context_dim=3)
    env.unwrapped._P[2] = 0.0  # (P c)_2 = 0 for every context
    obs, _ = env.reset(seed=0)
    opt = env.unwrapped.optimal_action()
    assert opt[2] == 1
    np.testing.assert_array_equal(opt, (naive.landscape_target(env.unwrapped._P, obs) + 1) / 2)
    assert naive.env_reward(env, obs, opt) == pytest.approx(0.0, abs=1e-12)
    assert env.unwrapped.landscape()(opt) == pytest.approx(0.0, abs=1e-12)


def test_rewards_are_never_positive():
    env = make(n=9, alpha=0.5, field=0.1)
    obs, _ = env.reset(seed=4)
    actions = np.array(list(naive.all_actions(9)))
    assert np.all(naive.env_reward(env, obs, actions) <= 1e-12)


@pytest.mark.parametrize("alpha, field", [(0.5, 0.1), (0.25, 1.0), (2.0, 0.0), (None, 0.1)])
def test_random_value_matches_monte_carlo(alpha, field):
    n, samples = 24, 20_000
    env = make(n=n, alpha=alpha, field=field, horizon=10, instance_seed=2)
    obs, info = env.reset(seed=5)
    rng = np.random.default_rng(6)
    for _ in range(3):
        actions = rng.integers(0, 2, size=(samples, n))
        r = naive.env_reward(env, obs, actions)
        stderr = r.std(ddof=1) / np.sqrt(samples)
        assert abs(r.mean() - info["random_value"]) < 4.0 * stderr + 1e-12
        obs, _, _, _, info = env.step(actions[0])


def test_reset_seed_drives_contexts_and_instance_seed_fixes_parameters():
    a, b, other = make(instance_seed=3), make(instance_seed=3), make(instance_seed=4)
    np.testing.assert_array_equal(a.unwrapped._P, b.unwrapped._P)
    np.testing.assert_array_equal(a.unwrapped._W, b.unwrapped._W)
    assert not np.array_equal(a.unwrapped._P, other.unwrapped._P)
    assert not np.array_equal(a.unwrapped._W, other.unwrapped._W)
    P, W = a.unwrapped._P.copy(), a.unwrapped._W.copy()

    obs_a1, _ = a.reset(seed=1)
    obs_b1, _ = b.reset(seed=1)
    obs_other1, _ = other.reset(seed=1)
    obs_a2, _ = a.reset(seed=2)
    np.testing.assert_array_equal(obs_a1, obs_b1)
    np.testing.assert_array_equal(obs_a1, obs_other1)  # the context depends on the reset seed only
    assert not np.array_equal(obs_a1, obs_a2)
    np.testing.assert_array_equal(a.unwrapped._P, P)  # resets never touch P and W
    np.testing.assert_array_equal(a.unwrapped._W, W)


def test_contexts_are_fresh_each_step_and_float32_in_the_observation_space():
    env = make(n=6, context_dim=4, horizon=5)
    obs, _ = env.reset(seed=0)
    seen = [obs]
    for _ in range(4):
        obs, *_ = env.step(env.action_space.sample())
        seen.append(obs)
    for o in seen:
        assert o.dtype == np.float32 and o.shape == (4,) and env.observation_space.contains(o)
    assert len({o.tobytes() for o in seen}) == len(seen)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0}, "n"),
        ({"n": 1}, "n"),
        ({"n": 5000}, "n"),
        ({"n": 2.5}, "n"),
        ({"context_dim": 0}, "context_dim"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": -1}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"field": -1}, "field"),
        ({"field": float("nan")}, "field"),
        ({"horizon": 0}, "horizon"),
        ({"instance_seed": -1}, "instance_seed"),
    ],
)
def test_bad_kwargs_raise_value_error_naming_the_field(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name} must"):
        make(**kwargs)


@pytest.mark.parametrize(
    "action",
    [
        np.zeros(5, dtype=np.int8),
        np.zeros(7, dtype=np.int8),
        np.zeros((6, 1), dtype=np.int8),
        np.array([0, 1, 2, 0, 1, 0]),
        np.array([0, 1, -1, 0, 1, 0]),
        np.array([0.0, 0.5, 1.0, 0.0, 1.0, 0.0]),
    ],
)
def test_step_rejects_actions_outside_the_space(action):
    env = make(n=6)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


def test_step_before_reset_raises():
    env = make(n=6).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(6, dtype=np.int8))


@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_episode_terminates_after_horizon_steps(horizon):
    env = make(n=6, horizon=horizon)
    for seed in (0, 1):  # and again after a reset
        env.reset(seed=seed)
        for k in range(1, horizon + 1):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            assert terminated == (k == horizon)
            assert not truncated
