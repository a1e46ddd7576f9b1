"""Every registered standin id: Gymnasium's check_env and a seeded determinism rollout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from standin import envs

IDS = envs.ids()


def test_ids_are_registered_with_gymnasium():
    import gymnasium as gym

    assert IDS, "no environments registered"
    for env_id in IDS:
        assert env_id.startswith("standin/") and env_id in gym.registry


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes(env_id):
    env = envs.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any other warning from the checker fails the test
        warnings.filterwarnings("ignore", message=r".*A Box observation space m\w+ value is -?infinity")
        check_env(env.unwrapped)
    env.close()


def rollout(env_id: str, seed: int, steps: int = 25):
    """Observations and rewards of a seeded rollout with a fixed action sequence."""
    env = envs.make(env_id)
    env.action_space.seed(seed + 1)
    actions = [env.action_space.sample() for _ in range(steps)]
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for a in actions:
        obs, r, terminated, truncated, _ = env.step(a)
        observations.append(obs)
        rewards.append(r)
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    env.close()
    return observations, rewards


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_rollout_is_deterministic(env_id):
    obs1, rew1 = rollout(env_id, seed=123)
    obs2, rew2 = rollout(env_id, seed=123)
    assert len(obs1) == len(obs2)
    for a, b in zip(obs1, obs2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert rew1 == rew2
    obs3, _ = rollout(env_id, seed=124)
    assert not np.array_equal(obs1[0], obs3[0])


def test_make_rejects_unknown_id():
    with pytest.raises(ValueError, match="standin/NoSuchEnv-v0"):
        envs.make("standin/NoSuchEnv-v0")


@pytest.mark.parametrize("env_id", IDS)
def test_make_rejects_unknown_kwarg(env_id):
    with pytest.raises(ValueError, match="no_such_kwarg"):
        envs.make(env_id, no_such_kwarg=1)
