"""Registry-wide environment tests: every registered standin id, the same checks.

``check_env``, seeded determinism, the vector env against the single env step for step (both
autoreset modes), argument errors and the reference values every env promises.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from standin import envs

IDS = envs.ids()


def sample(space, info, rng_space):
    """A random action, honouring ``info["action_mask"]`` (a 2-D mask becomes Gymnasium's tuple)."""
    mask = info.get("action_mask") if isinstance(info, dict) else None
    if mask is None:
        return rng_space.sample()
    mask = np.asarray(mask, dtype=np.int8)
    if isinstance(rng_space, gym.spaces.MultiDiscrete):
        mask = tuple(mask.reshape(len(rng_space.nvec), -1))
    return rng_space.sample(mask=mask)


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    env = envs.make(env_id)
    check_env(env.unwrapped, skip_render_check=True, skip_close_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_rollouts_repeat(env_id):
    def rollout():
        env = envs.make(env_id)
        space = env.action_space
        space.seed(5)
        out = []
        obs, info = env.reset(seed=7)
        for _ in range(30):
            obs, reward, term, trunc, info = env.step(sample(space, info, space))
            out.append((obs.copy(), reward, term, trunc, info.get("optimal_value")))
            if term or trunc:
                obs, info = env.reset()
                out.append((obs.copy(), info.get("optimal_value")))
        return out

    first, second = rollout(), rollout()
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert all(same(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("env_id", IDS)
def test_different_seeds_differ(env_id):
    env = envs.make(env_id)
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=2)
    assert not same(a, b)


def assert_same_info(batched: dict, i: int, info: dict) -> None:
    for key in ("optimal_value", "random_value", "action_mask"):
        if key in info:
            assert same(batched[key][i], info[key]), key


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_matches_single_envs(env_id, mode):
    """The vector env's environment ``i`` seeded with ``s`` is the single env seeded with ``s + i``."""
    num, seed, steps = 3, 11, 40
    vec = gym.make_vec(env_id, num_envs=num, vectorization_mode="vector_entry_point", autoreset_mode=mode)
    assert type(vec.unwrapped).__name__.endswith("VectorEnv")
    singles = [envs.make(env_id) for _ in range(num)]
    spaces = [env.action_space for env in singles]
    for i, space in enumerate(spaces):
        space.seed(100 + i)

    vobs, vinfo = vec.reset(seed=seed)
    sobs, sinfo = zip(*(env.reset(seed=seed + i) for i, env in enumerate(singles)), strict=True)
    sobs, sinfo = list(sobs), list(sinfo)
    resetting = [False] * num
    for i in range(num):
        assert same(vobs[i], sobs[i])
    for _ in range(steps):
        actions = [sample(spaces[i], sinfo[i], spaces[i]) for i in range(num)]
        vobs, vrew, vterm, vtrunc, vinfo = vec.step(np.stack(actions))
        for i, env in enumerate(singles):
            if resetting[i]:  # next_step autoreset: this step reset env i and ignored its action
                sobs[i], sinfo[i] = env.reset()
                assert (vrew[i], vterm[i], vtrunc[i]) == (0.0, False, False)
                assert same(vobs[i], sobs[i])
                resetting[i] = False
                continue
            obs, rew, term, trunc, info = env.step(actions[i])
            assert vrew[i] == pytest.approx(rew, rel=0, abs=0)
            assert (bool(vterm[i]), bool(vtrunc[i])) == (term, trunc)
            # after a same-step autoreset the ended episode's last info is in final_info
            shown = vinfo["final_info"] if (term or trunc) and mode == "same_step" else vinfo
            assert_same_info(shown, i, info)
            if (term or trunc) and mode == "same_step":
                assert same(vinfo["final_obs"][i], obs)
                obs, info = env.reset()
                assert_same_info(vinfo, i, info)
            elif term or trunc:
                resetting[i] = True
            assert same(vobs[i], obs)
            sobs[i], sinfo[i] = obs, info
    vec.close()


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_checks_actions(env_id):
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    bad = np.stack([vec.single_action_space.sample()] * 3)
    with pytest.raises(ValueError, match="shape"):
        vec.step(bad)


@pytest.mark.parametrize("env_id", IDS)
def test_references_and_spec(env_id):
    env = envs.make(env_id)
    cls = envs.env_class(env_id)
    doc = cls.__doc__ or ""
    for section in ("## Action Space", "## Observation Space", "## Rewards", "## Starting State", "## Episode End",
                    "## Arguments", "## Version History"):
        assert section in doc, f"{cls.__name__} docstring lacks {section}"
    ref = env.unwrapped.reference
    assert ref.per in ("decision", "episode")
    _, info = env.reset(seed=3)
    assert info["optimal_value"] >= info["random_value"]
    assert isinstance(getattr(cls, "size_kwargs", None), tuple)


@pytest.mark.parametrize("env_id", IDS)
def test_unknown_argument_is_named(env_id):
    with pytest.raises(ValueError, match="bogus"):
        envs.make(env_id, bogus=1)


@pytest.mark.parametrize("env_id", IDS)
def test_step_rejects_actions_outside_the_space(env_id):
    env = envs.make(env_id)
    env.reset(seed=0)
    shape = env.action_space.shape
    with pytest.raises(ValueError, match="not in"):
        env.step(np.full(shape, 10**6, dtype=np.int64))  # no token, bit or move of any family


@pytest.mark.parametrize("env_id", IDS)
def test_step_before_reset_is_an_error(env_id):
    env = envs.make(env_id).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize("env_id", IDS)
def test_references_off_changes_only_the_info(env_id):
    on, off = envs.make(env_id), envs.make(env_id, references=False)
    space = on.action_space
    space.seed(1)
    (obs_on, info_on), (obs_off, info_off) = on.reset(seed=4), off.reset(seed=4)
    for _ in range(20):
        assert same(obs_on, obs_off)
        assert "optimal_value" in info_on and "optimal_value" not in info_off and "random_value" not in info_off
        action = sample(space, info_on, space)
        obs_on, r_on, term, trunc, info_on = on.step(action)
        obs_off, r_off, *_, info_off = off.step(action)
        assert r_on == r_off
        if term or trunc:
            (obs_on, info_on), (obs_off, info_off) = on.reset(), off.reset()


def test_oracle_agent_on_an_env_without_optimum_names_what_can_stand_in():
    from standin import agents

    with pytest.raises(ValueError, match="no optimal_action.*value='heuristic'"):
        agents.make("oracle").fit(envs.make("standin/Swarm-v0"), 0)
