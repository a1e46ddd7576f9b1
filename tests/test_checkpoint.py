"""Checkpoints: trained agents saved by the runner, loaded with weights_only=True, evaluated again."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from standin.agents import checkpoint
from standin.benchmarks.cli import main
from standin.benchmarks.runner import run_trials
from standin.benchmarks.suite import Trial

pytestmark = pytest.mark.usefixtures("restore_torch_threads")

ENV = ("standin/Landscape-v0", {"n": 6, "alpha": None, "context_dim": 2})
TRAINED = {
    "ppo": ({"num_envs": 2, "num_steps": 16}, 256),
    "value-search": ({"value": "quadratic", "method": "exhaustive", "budget": 64, "rank": 2, "hidden": 8,
                      "warmup_steps": 50}, 200),
    "propose-search": ({"value": "quadratic", "budget": 16, "rank": 2, "hidden": 8, "warmup_steps": 50}, 200),
    "distill": ({"teacher_config": {"value": "oracle", "method": "exhaustive", "budget": 64}, "rounds": 2}, 200),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    trials = [Trial("ckpt", *ENV, name, config, 0, steps, 10) for name, (config, steps) in TRAINED.items()]
    trials.append(Trial("ckpt", *ENV, "random", {}, 0, 0, 10))
    run_trials(trials, out, workers=1, progress=False)
    records = {r["agent"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    return out, records


@pytest.mark.parametrize("name", list(TRAINED))
def test_checkpoint_restores_the_trained_weights(trained, name):
    out, records = trained
    assert records[name]["status"] == "ok", records[name]["error"]
    path = out / records[name]["checkpoint"]
    payload = torch.load(path, weights_only=True)  # plain data: no code runs on load
    agent, _, _ = checkpoint.load(path)
    restored = agent.state_dict()

    def flat(state):
        for key, value in sorted(state.items()):
            if isinstance(value, dict):
                yield from flat(value)
            else:
                yield key, value

    saved = list(flat(payload["state"]))
    assert saved and len(saved) == len(list(flat(restored)))
    for (k1, v1), (k2, v2) in zip(saved, flat(restored), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)


@pytest.mark.parametrize("name", ["ppo", "value-search", "distill"])
def test_standin_eval_repeats_the_trials_numbers(trained, name, capsys):
    """These agents decide deterministically (a mode, or exhaustive search), so evaluating the
    checkpoint on the trial's own evaluation seed gives its recorded return again."""
    out, records = trained
    assert main(["eval", str(out / records[name]["checkpoint"]), "--episodes", "10"]) == 0
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.strip().startswith("return"))
    assert float(line.split()[-1]) == pytest.approx(records[name]["metrics"]["return"], rel=1e-3)


def test_untrained_agents_save_nothing(trained):
    _, records = trained
    assert records["random"]["checkpoint"] is None


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(np.arange(10).tobytes())
    assert main(["eval", str(bad)]) == 2
    assert "not a standin checkpoint" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
