"""Users' own environments: registered here, in the test file, and run through a suite unchanged.

Two tiny environments a user might write, with nothing standin-specific in them:

- ``Coins-v0``: ``MultiDiscrete([3] * C)`` with an action mask and a ``Discrete`` observation, and no
  reference values (the report shows raw returns);
- ``Pick-v0``: ``Discrete(4)`` actions on a ``Box`` observation, with ``optimal_value`` and
  ``random_value`` in its info (the report normalises it).

The suite names them ``test_user_env:Coins-v0``: Gymnasium's ``module:id`` convention, so the
runner's worker processes import this module, which registers them.
"""

from __future__ import annotations

import itertools
import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from standin import agents, envs
from standin.benchmarks.cli import main


class CoinsEnv(gym.Env):
    """Turn each of ``coins`` coins to the colour on show (0, 1 or 2); colour 2 is forbidden for coin 0.

    Reward: the fraction of coins showing the colour. One step per episode.
    """

    metadata = {"render_modes": []}

    def __init__(self, coins: int = 3):
        self.coins = coins
        self.action_space = spaces.MultiDiscrete([3] * coins)
        self.observation_space = spaces.Discrete(3)

    def _info(self):
        mask = np.ones((self.coins, 3), dtype=np.int8)
        mask[0, 2] = 0
        return {"action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.colour = int(self.np_random.integers(3))
        return self.colour, self._info()

    def step(self, action):
        reward = float(np.mean(np.asarray(action) == self.colour))
        self.colour = int(self.np_random.integers(3))
        return self.colour, reward, True, False, self._info()


class PickEnv(gym.Env):
    """Pick the index of the largest of 4 numbers on show; reward 1 if right, else 0."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.obs = self.np_random.uniform(-1, 1, 4).astype(np.float32)
        return self.obs, {"optimal_value": 1.0, "random_value": 0.25}

    def step(self, action):
        reward = float(int(action) == int(np.argmax(self.obs)))
        self.obs = self.np_random.uniform(-1, 1, 4).astype(np.float32)
        return self.obs, reward, True, False, {"optimal_value": 1.0, "random_value": 0.25}


for _id, _cls in (("Coins-v0", CoinsEnv), ("Pick-v0", PickEnv)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls)

SUITE = """
name = "user-envs"
seeds = [0, 1]
train_steps = 2000
eval_episodes = 20

[[envs]]
id = "test_user_env:Coins-v0"
kwargs = {{coins = 3}}

[[envs]]
id = "test_user_env:Pick-v0"

[[agents]]
name = "random"
train_steps = 0

[[agents]]
name = "ppo"
config = {{num_envs = 4, num_steps = 32}}

[[agents]]
name = "value-search"
config = {{value = "quadratic", method = "{method}", budget = 27, warmup_steps = 200, rank = 2}}
"""


@pytest.fixture(scope="module")
def user_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    path = root / "user.toml"
    path.write_text(SUITE.format(method="exhaustive"))
    out = root / "out"
    code = main(["bench", str(path), "--out", str(out), "--workers", "2"])
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return code, out, records


def test_every_agent_runs_on_users_envs_in_worker_processes(user_suite):
    code, _, records = user_suite
    assert code == 0
    bad = [(r["env_label"], r["agent_label"], r["error"]) for r in records if r["status"] != "ok"]
    assert not bad
    assert len(records) == 2 * 3 * 2


def test_learning_agents_beat_random_on_users_envs(user_suite):
    _, _, records = user_suite

    def mean_return(env, agent):
        return np.mean([r["metrics"]["return"] for r in records if r["env_label"].startswith(env)
                        and r["agent"] == agent])

    for env in ("Coins-v0", "Pick-v0"):
        assert mean_return(env, "ppo") > mean_return(env, "random") + 0.2
        assert mean_return(env, "value-search") > mean_return(env, "random") + 0.2


def test_masks_are_honoured(user_suite):
    """No agent ever turns coin 0 to the forbidden colour 2 (checked on the agents directly)."""
    env = envs.make("test_user_env:Coins-v0")
    for name, config, steps in (("random", {}, 0), ("ppo", {"num_envs": 2, "num_steps": 16}, 64),
                                ("value-search", {"value": "quadratic", "method": "exhaustive", "budget": 27,
                                                  "warmup_steps": 16}, 64)):
        agent = agents.make(name, seed=0, **config)
        agent.fit(env, steps, agents.NullLogger())
        obs, info = env.reset(seed=3)
        for _ in range(30):
            action = agent.act(obs, info)
            assert env.action_space.contains(np.asarray(action)) and action[0] != 2, name
            obs, _, _, _, info = env.step(action)
            obs, info = env.reset()


def test_report_normalises_where_the_env_gives_references(user_suite):
    _, out, records = user_suite
    pick = [r for r in records if r["env_label"].startswith("Pick-v0")]
    coins = [r for r in records if r["env_label"].startswith("Coins-v0")]
    assert all(r["metrics"]["normalized_return"] is not None for r in pick)
    assert all(r["metrics"]["normalized_return"] is None for r in coins)
    report = (out / "report.md").read_text()
    assert "No reference values" in report and "Coins-v0" in report


def test_oracle_value_on_an_env_without_landscape_names_the_fix():
    env = envs.make("test_user_env:Pick-v0")
    agent = agents.make("value-search", value="oracle")
    with pytest.raises(ValueError, match="value='quadratic'"):
        agent.fit(env, 0, agents.NullLogger())


def test_unknown_module_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        envs.make("no_such_module:Thing-v0")


# ------------------------------------------------------------------ the template in the docs


@pytest.fixture(scope="module")
def template_module(tmp_path_factory, request):
    """The template of docs/adding-an-environment.md, written out as ``my_envs.py`` and imported."""
    import importlib
    import pathlib
    import re
    import sys

    doc = (pathlib.Path(__file__).parents[1] / "docs" / "adding-an-environment.md").read_text()
    section = doc.split("## A template to copy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    folder = tmp_path_factory.mktemp("template")
    (folder / "my_envs.py").write_text(code)
    sys.path.insert(0, str(folder))
    request.addfinalizer(lambda: sys.path.remove(str(folder)))
    return importlib.import_module("my_envs")


def test_docs_template_passes_check_env_and_its_capabilities_agree(template_module):
    env = envs.make("my_envs:Budget-v0", n=8, k=3)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    land = env.unwrapped.landscape()
    rng = np.random.default_rng(0)
    for _ in range(20):  # the landscape is the reward
        a = rng.integers(0, 2, 8).astype(np.int8)
        assert land(a) == pytest.approx(env.unwrapped.reward(a))
    best = max(env.unwrapped.reward(np.array(a, dtype=np.int8)) for a in itertools.product([0, 1], repeat=8))
    assert info["optimal_value"] == pytest.approx(best)
    assert env.unwrapped.reward(env.unwrapped.optimal_action()) == pytest.approx(best)
    rewards = [env.unwrapped.reward(np.array(a, dtype=np.int8)) for a in itertools.product([0, 1], repeat=8)]
    assert info["random_value"] == pytest.approx(np.mean(rewards))


def test_docs_template_runs_through_standin_run(template_module, tmp_path, capsys):
    code = main(["run", "--env", "my_envs:Budget-v0", "--env-kwargs", "n=10", "--agent", "value-search",
                 "--agent-kwargs", "value=oracle,method=exhaustive,budget=1024", "--eval-episodes", "5",
                 "--out", str(tmp_path)])
    assert code == 0
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["normalized_return"] == pytest.approx(1.0)
