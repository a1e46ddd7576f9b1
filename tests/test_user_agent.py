"""A user's own agent, from docs/adding-an-agent.md as written: registered from its module, named in a
suite as ``my_agents:linear-bandit``, run in worker processes, its hparams in TensorBoard."""

from __future__ import annotations

import importlib
import json
import pathlib
import re
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from standin import agents, envs
from standin.benchmarks.cli import main

DOC = pathlib.Path(__file__).parents[1] / "docs" / "adding-an-agent.md"


@pytest.fixture(scope="module")
def template(tmp_path_factory, request):
    """The guide's module as ``my_agents.py`` (imported) and its suite as ``bandit.toml``."""
    section = DOC.read_text().split("## A template to copy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    suite = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    folder = tmp_path_factory.mktemp("user_agent")
    (folder / "my_agents.py").write_text(code)
    (folder / "bandit.toml").write_text(suite)
    sys.path.insert(0, str(folder))

    def forget():  # leave the registry and the path as the other tests expect them
        sys.path.remove(str(folder))
        sys.modules.pop("my_agents", None)
        agents._REGISTRY.pop("linear-bandit", None)

    request.addfinalizer(forget)
    importlib.import_module("my_agents")
    return folder


def test_the_template_registers_an_agent_that_learns_and_checks_its_config(template):
    assert "linear-bandit" in agents.names()
    with pytest.raises(ValueError, match="epsilon"):
        agents.make("my_agents:linear-bandit", epsilon=2.0)
    with pytest.raises(ValueError, match="unknown"):
        agents.make("my_agents:linear-bandit", epsiloon=0.1)
    env = envs.make("standin/Landscape-v0", n=8)
    agent = agents.make("my_agents:linear-bandit", seed=0)
    agent.fit(env, 1500)
    assert agent.cost.env_steps == 1500 and agent.cost.search_evaluations > 0
    obs, info = env.reset(seed=7)
    action = agent.act(obs, info)
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype))
    assert agent.last_evaluations == agents.make("my_agents:linear-bandit").config.budget
    again = agents.make("my_agents:linear-bandit", seed=0)
    again.fit(env, 1500)
    np.testing.assert_array_equal(again.w, agent.w)  # the same seed, the same value


def test_the_template_suite_runs_in_worker_processes_with_its_hparams_in_tensorboard(template, tmp_path):
    out = tmp_path / "run"
    assert main(["bench", str(template / "bandit.toml"), "--out", str(out), "--workers", "2"]) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    bandit = [r for r in records if r["agent"] == "my_agents:linear-bandit"]
    assert sorted(r["agent_config"]["epsilon"] for r in bandit) == [0.1, 0.1, 0.3, 0.3]
    assert all(r["metrics"]["train_env_steps"] == 2000 for r in bandit)
    learned = np.mean([r["metrics"]["normalized_return"] for r in bandit])
    uniform = np.mean([r["metrics"]["normalized_return"] for r in records if r["agent"] == "random"])
    assert learned > uniform + 0.2  # it learns something a random policy does not
    from standin.benchmarks import suite

    runs = {t.trial_id: t.run_name for t in suite.load(str(template / "bandit.toml")).trials}
    seen = []
    for r in bandit:  # each trial's TensorBoard run carries its agent and config as hparams
        acc = event_accumulator.EventAccumulator(str(out / "tb" / runs[r["trial_id"]]))
        acc.Reload()
        data = [plugin_data_pb2.HParamsPluginData.FromString(v) for v in acc.PluginTagToContent("hparams").values()]
        (start,) = [d.session_start_info for d in data if d.WhichOneof("data") == "session_start_info"]
        assert start.hparams["agent"].string_value == "my_agents:linear-bandit"
        seen.append(start.hparams["agent.epsilon"].number_value)
    assert sorted(seen) == pytest.approx([0.1, 0.1, 0.3, 0.3])
    assert (out / "report.md").is_file()


def test_one_trial_of_the_template_runs_through_standin_run(template, tmp_path):
    code = main(["run", "--env", "standin/Landscape-v0", "--env-kwargs", "n=8", "--agent", "my_agents:linear-bandit",
                 "--agent-kwargs", "epsilon=0.1", "--train-steps", "500", "--eval-episodes", "5",
                 "--out", str(tmp_path)])
    assert code == 0
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "ok", record["error"]


def test_the_guides_proposal_part_builds_a_value_search_agent_that_learns_from_its_picks(tmp_path, monkeypatch):
    section = DOC.read_text().split("## Or build on value-search's parts", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "my_parts.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_parts", raising=False)
    monkeypatch.setitem(agents._REGISTRY, "past-picks", None)  # restored (removed) after the test
    env = envs.make("standin/Landscape-v0", n=10, alpha=None, context_dim=2)

    def trained():
        agent = agents.make("my_parts:past-picks", seed=0, value="quadratic", budget=32, rank=2, hidden=8,
                            warmup_steps=50, batch_size=16, epsilon=0.2)
        agent.fit(env, 300)
        return agent

    agent = trained()
    picks = agent.proposal.picks
    # one pick per searched training decision: the 250 after warm-up, less the ~20% explored uniformly
    assert 170 <= len(picks) <= 235 and all(p.shape == (10,) and set(np.unique(p)) <= {0, 1} for p in picks)
    assert agent.cost.gradient_steps > 0
    obs, info = env.reset(seed=3)
    starts = agent.proposal.sampler(obs, info)(5, np.random.default_rng(0))
    assert {tuple(s) for s in starts} <= {tuple(p) for p in picks}
    again = trained()
    np.testing.assert_array_equal(np.stack(again.proposal.picks), np.stack(picks))  # the same seed, the same run
    assert again.act(obs, info).tolist() == agent.act(obs, info).tolist()
    # the proposal learns, so the agent trains over the env's own landscape too (value-search doesn't)
    assert agents.trains("my_parts:past-picks", {"value": "oracle"}) and not agents.trains("value-search",
                                                                                         {"value": "oracle"})
    oracle = agents.make("my_parts:past-picks", seed=0, value="oracle", budget=32)
    oracle.fit(env, 40)
    assert len(oracle.proposal.picks) == 40 and oracle.cost.search_evaluations == 40 * 32
