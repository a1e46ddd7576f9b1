"""Tests for ``benchmarks.perf.peers``: the SB3 settings built from ``PPOConfig`` mirror it (no training)."""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys

import numpy as np
import pytest
import torch

from standin import envs  # noqa: F401  (registers the standin ids)
from standin.agents.ppo import ActorCritic, PPOConfig, RunningScale
from standin.benchmarks.perf import peers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_config_field_is_mirrored_or_explained():
    """A field added to PPOConfig must be mapped (or explained) in peers.MIRRORED."""
    fields = {f.name for f in dataclasses.fields(PPOConfig)}
    assert fields == set(peers.MIRRORED)


def test_same_kwargs_match_config_field_for_field():
    cfg = PPOConfig()
    kw = peers.sb3_same_kwargs(cfg, total_steps=8192)
    assert kw["n_steps"] == cfg.num_steps
    assert kw["batch_size"] == cfg.num_envs * cfg.num_steps // cfg.num_minibatches
    assert kw["n_epochs"] == cfg.update_epochs
    assert kw["gamma"] == cfg.gamma
    assert kw["gae_lambda"] == cfg.gae_lambda
    assert kw["clip_range"] == cfg.clip_coef
    assert kw["clip_range_vf"] == (cfg.clip_coef if cfg.clip_vloss else None)
    assert kw["normalize_advantage"] == cfg.norm_adv
    assert kw["ent_coef"] == cfg.ent_coef
    assert kw["vf_coef"] == cfg.vf_coef / 2  # SB3: vf_coef * MSE; ours: vf_coef * 0.5 * MSE
    assert kw["max_grad_norm"] == cfg.max_grad_norm
    assert kw["target_kl"] is None and cfg.target_kl is None
    assert kw["policy_kwargs"]["net_arch"] == {"pi": list(cfg.hidden_sizes), "vf": list(cfg.hidden_sizes)}
    assert kw["policy_kwargs"]["activation_fn"] is torch.nn.Tanh
    norm = peers.reward_norm_kwargs(cfg)
    assert norm["norm_reward"] is cfg.norm_reward and norm["norm_obs"] is False
    assert norm["gamma"] == cfg.gamma and norm["clip_reward"] == math.inf


def test_annealed_lr_reproduces_ours_per_rollout():
    """SB3 calls the schedule with 1 - i * rollout / total before update i; ours uses 1 - (i - 1) / N."""
    cfg = PPOConfig()
    rollout, iterations = cfg.num_envs * cfg.num_steps, 16
    total = rollout * iterations
    lr = peers.sb3_same_kwargs(cfg, total)["learning_rate"]
    assert lr(1.0) == cfg.learning_rate  # the optimizer's initial value
    for i in range(1, iterations + 1):
        ours = (1.0 - (i - 1.0) / iterations) * cfg.learning_rate
        assert lr(1.0 - i * rollout / total) == pytest.approx(ours, rel=1e-12, abs=1e-15)
    assert peers.sb3_same_kwargs(dataclasses.replace(cfg, anneal_lr=False), total)["learning_rate"] == cfg.learning_rate


def test_settings_ppo_cannot_mirror_are_errors():
    with pytest.raises(ValueError, match="target_kl"):
        peers.sb3_same_kwargs(PPOConfig(target_kl=0.01), 4096)
    with pytest.raises(ValueError, match="autoregressive"):
        peers.sb3_same_kwargs(PPOConfig(head="autoregressive"), 4096)


def test_equal_steps_is_a_whole_number_of_every_rollout():
    cfg = PPOConfig()
    for steps in (1, 5_000, 20_000, 50_000):
        got = peers.equal_steps(steps, cfg)
        assert got % (cfg.num_envs * cfg.num_steps) == 0
        assert got % (peers.SB3_DEFAULT_N_STEPS * peers.SB3_DEFAULT_N_ENVS) == 0
        assert got <= max(steps, 2048)
    assert peers.equal_steps(50_000) == 49_152


def test_summary():
    assert peers.summary([0.5]) == "0.500"
    assert peers.summary([0.4, 0.6]) == "0.500 ± 0.141"
    assert peers.summary([0.4, None]) == "n/a"


def test_problems_cover_every_family():
    assert {p.family for p in peers.PROBLEMS} == set(peers.FAMILIES)
    assert {p.family for p in peers.QUICK_PROBLEMS} == set(peers.FAMILIES)
    assert peers.PROBLEMS[0].label == "Landscape-v0 n=4 alpha=0.5"


def test_without_sb3_the_script_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # makes the import fail
    with pytest.raises(SystemExit) as stop:
        peers.main(["--quick"])
    assert peers.INSTALL_HINT in str(stop.value.code) and "\n" not in str(stop.value.code)


# ------------------------------------------------------------------ with stable-baselines3


def test_sb3_defaults_are_what_the_script_assumes():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    assert inspect.signature(PPO.__init__).parameters["n_steps"].default == peers.SB3_DEFAULT_N_STEPS
    assert inspect.signature(make_vec_env).parameters["n_envs"].default == peers.SB3_DEFAULT_N_ENVS


def test_sb3_model_has_our_network_and_optimizer():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    cfg = PPOConfig()
    problem = peers.Problem("landscape", "standin/Landscape-v0", (("n", 16),))
    vec = DummyVecEnv([lambda: problem.make(references=False)] * cfg.num_envs)
    model = PPO("MlpPolicy", vec, seed=0, **peers.sb3_same_kwargs(cfg, 4096))
    env = problem.make()
    ours = ActorCritic(int(np.prod(env.observation_space.shape)), 16, cfg.hidden_sizes)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(model.policy) == count(ours)
    linear = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == list(cfg.hidden_sizes)
    assert all(isinstance(m, torch.nn.Tanh) for m in model.policy.mlp_extractor.value_net[1::2])
    assert model.policy.optimizer.defaults["eps"] == 1e-5
    assert model.batch_size * cfg.num_minibatches == model.n_steps * model.n_envs
    vec.close()


def test_vecnormalize_scales_rewards_as_ours():
    """The same reward and done stream gives the same scaled rewards in VecNormalize and RunningScale."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    cfg = PPOConfig()
    problem = peers.Problem("knapsack", "standin/Knapsack-v0", (("n", 10), ("horizon", 3)))
    vec = VecNormalize(DummyVecEnv([lambda: problem.make(references=False)] * 3), **peers.reward_norm_kwargs(cfg))
    vec.seed(0)
    vec.reset()
    ours = RunningScale(cfg.gamma, 3)
    rng = np.random.default_rng(0)
    scaled_any = False
    for _ in range(20):
        _, scaled, dones, _ = vec.step(rng.integers(0, 2, (3, 10)).astype(np.int8))
        raw = vec.get_original_reward().astype(np.float64)
        np.testing.assert_allclose(scaled, ours(raw, dones), rtol=1e-5)
        scaled_any |= not np.allclose(scaled, raw)
    assert scaled_any  # the stream did exercise the scaling
    vec.close()
