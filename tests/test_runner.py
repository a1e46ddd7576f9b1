"""benchmarks.runner: records, resuming, failures, a cut-off last line, and workers=1 vs a process pool."""

from __future__ import annotations

import datetime
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from standin import agents
from standin.benchmarks.runner import append_record, read_records, run_trials
from standin.benchmarks.suite import Trial

pytestmark = pytest.mark.usefixtures("restore_torch_threads")

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results.md"


def documented_keys(section: str) -> set[str]:
    """The keys in the first column of the table after ``section`` in docs/results.md."""
    text = DOCS.read_text().split(section, 1)[1]
    keys, started = set(), False
    for line in text.splitlines():
        if line.startswith("| `"):
            started = True
            keys.update(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
        elif started and not line.startswith("|"):
            break
    return keys


RECORD_KEYS = documented_keys("# `results.jsonl`")
METRIC_KEYS = documented_keys("`metrics`:")
DETERMINISTIC_METRICS = sorted(METRIC_KEYS - {"decision_ms", "train_seconds", "eval_seconds", "train_eval_seconds"})


def tiny(agent: str, seed: int = 0, n: int = 4, episodes: int = 3, **config) -> Trial:
    return Trial("tiny", "standin/Landscape-v0", {"n": n}, agent, config, seed, 0, episodes)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class FailingConfig:
    """An agent whose fit raises (runner failure handling)."""


class FailingAgent:
    Config = FailingConfig
    broken = True

    def __init__(self, config, seed=0):
        self.last_evaluations = 0

    def fit(self, env, steps, log):
        if FailingAgent.broken:
            raise RuntimeError("boom: this agent always fails")
        self.space = env.action_space

    def act(self, obs, info):
        return self.space.sample()


@pytest.fixture
def failing_agent(monkeypatch):
    monkeypatch.setitem(agents._REGISTRY, "failing", f"{__name__}:FailingAgent")
    monkeypatch.setattr(FailingAgent, "broken", True)
    return FailingAgent


# ------------------------------------------------------------------------------------- records


def test_one_line_per_trial_with_documented_fields(tmp_path):
    trials = [tiny("random"), tiny("oracle"), tiny("random", seed=1)]
    summary = run_trials(trials, tmp_path, workers=1, progress=False)
    assert summary == {"total": 3, "skipped": 0, "ok": 3, "error": 0}
    records = lines(tmp_path / "results.jsonl")
    assert [r["trial_id"] for r in records] == [t.trial_id for t in trials]
    for r, t in zip(records, trials, strict=True):
        assert set(r) == RECORD_KEYS
        assert set(r["metrics"]) == METRIC_KEYS
        assert r["status"] == "ok" and r["error"] is None and r["traceback"] is None
        assert (r["suite"], r["env_id"], r["env_kwargs"], r["agent"], r["seed"]) == (
            "tiny", "standin/Landscape-v0", {"n": 4}, t.agent, t.seed)
        assert r["env_label"] == "Landscape-v0 n=4" and r["env_family"] == "Landscape-v0"
        assert r["log2_actions"] == 4.0
        assert r["agent_label"] == t.agent
        assert r["agent_config"] == {}
        assert (r["train_steps"], r["eval_episodes"]) == (0, 3)
        assert r["metrics"]["decisions"] == 3
        assert r["metrics"]["train_env_steps"] == 0
        assert set(r["reference"]) == {"high", "high_is_optimum", "low", "per", "high_is_bound"}
        assert r["reference"]["high_is_optimum"] is True
        assert {"standin", "git_commit", "python", "packages", "machine"} <= set(r["provenance"])
        assert datetime.datetime.fromisoformat(r["finished_at"]).tzinfo is not None
    assert (tmp_path / "tb").is_dir()


def test_agent_config_is_recorded_with_defaults(tmp_path):
    trial = tiny("value-search", budget=20, method="random")
    run_trials([trial], tmp_path, workers=1, progress=False)
    (r,) = lines(tmp_path / "results.jsonl")
    assert r["status"] == "ok", r["error"]
    cfg = r["agent_config"]
    assert cfg["budget"] == 20 and cfg["method"] == "random"
    assert cfg["value"] == "oracle" and "rank" in cfg  # defaults filled in
    assert r["agent_label"] == "value-search budget=20 method=random"
    assert r["metrics"]["evaluations_per_decision"] > 0


def test_oracle_scores_one_and_random_uses_no_evaluations(tmp_path):
    run_trials([tiny("oracle"), tiny("random")], tmp_path, workers=1, progress=False)
    oracle, random = lines(tmp_path / "results.jsonl")
    assert oracle["metrics"]["normalized_return"] == pytest.approx(1.0)
    assert oracle["metrics"]["optimal_rate"] == 1.0
    assert oracle["metrics"]["return"] == pytest.approx(oracle["metrics"]["optimal_return"])
    assert random["metrics"]["evaluations_per_decision"] == 0
    assert random["metrics"]["random_return"] < random["metrics"]["optimal_return"]


def test_learned_value_search_records_the_shortfall_split(tmp_path):
    learned = Trial("tiny", "standin/Landscape-v0", {"n": 6}, "value-search",
                    {"value": "quadratic", "budget": 4, "rank": 2, "hidden": 8, "warmup_steps": 20}, 0, 60, 3)
    run_trials([learned, tiny("random")], tmp_path, workers=1, progress=False)
    by_agent = {r["agent"]: r["metrics"] for r in lines(tmp_path / "results.jsonl")}
    split = by_agent["value-search"]
    assert split["split_by"] == "exhaustive" and split["split_decisions"] == 3
    assert split["search_error"] >= 0 and split["value_error"] >= 0
    assert by_agent["random"]["search_error"] is None and by_agent["random"]["split_decisions"] == 0


def test_rerun_skips_recorded_trials_without_duplicates(tmp_path):
    trials = [tiny("random"), tiny("oracle")]
    run_trials(trials, tmp_path, workers=1, progress=False)
    before = (tmp_path / "results.jsonl").read_bytes()
    summary = run_trials(trials, tmp_path, workers=1, progress=False)
    assert summary == {"total": 2, "skipped": 2, "ok": 0, "error": 0}
    assert (tmp_path / "results.jsonl").read_bytes() == before
    # a new trial alongside recorded ones: only it runs
    summary = run_trials([*trials, tiny("random", seed=5)], tmp_path, workers=1, progress=False)
    assert summary == {"total": 3, "skipped": 2, "ok": 1, "error": 0}
    ids = [r["trial_id"] for r in lines(tmp_path / "results.jsonl")]
    assert len(ids) == len(set(ids)) == 3


# ------------------------------------------------------------------------------------- failures


def test_failing_trial_is_recorded_and_others_finish(tmp_path, failing_agent):
    trials = [tiny("random"), tiny("failing"), tiny("oracle")]
    summary = run_trials(trials, tmp_path, workers=1, progress=False)
    assert summary == {"total": 3, "skipped": 0, "ok": 2, "error": 1}
    by_agent = {r["agent"]: r for r in lines(tmp_path / "results.jsonl")}
    failed = by_agent["failing"]
    assert failed["status"] == "error"
    assert failed["error"] == "RuntimeError: boom: this agent always fails"
    assert "Traceback" in failed["traceback"] and "boom" in failed["traceback"]
    assert "metrics" not in failed
    assert failed["trial_id"] == trials[1].trial_id
    assert by_agent["random"]["status"] == by_agent["oracle"]["status"] == "ok"


def test_each_trial_has_a_log_with_its_output_and_a_failure_s_traceback(tmp_path, failing_agent):
    trials = [tiny("random"), tiny("failing")]
    run_trials(trials, tmp_path, workers=1, progress=False)
    ok, failed = lines(tmp_path / "results.jsonl")
    assert ok["log"] == f"logs/{trials[0].trial_id}.log" and failed["log"] == f"logs/{trials[1].trial_id}.log"
    ok_log, failed_log = (tmp_path / r["log"] for r in (ok, failed))
    assert ok_log.read_text().startswith(f"trial {trials[0].trial_id}: Landscape-v0 n=4 · random · seed 0")
    assert ok_log.read_text().rstrip().endswith(": ok")
    text = failed_log.read_text()
    assert "Traceback" in text and "boom: this agent always fails" in text and text.rstrip().endswith(": error")


def test_a_trained_agent_records_its_learning_curve_thinned(tmp_path, monkeypatch):
    from standin.benchmarks import trial as trial_module  # where a trial's run lives

    monkeypatch.setattr(trial_module, "CURVE_POINTS", 5)
    ppo = Trial("tiny", "standin/Landscape-v0", {"n": 4}, "ppo", {"num_envs": 2, "num_steps": 8}, 0, 400, 2)
    run_trials([ppo, tiny("random")], tmp_path, workers=1, progress=False)
    trained, untrained = lines(tmp_path / "results.jsonl")
    curve = trained["learning_curve"]
    assert curve["tag"] == "train/episodic_return"
    assert len(curve["steps"]) == len(curve["values"]) == 5  # 25 updates of 16 steps, thinned to 5
    assert curve["steps"] == sorted(curve["steps"]) and curve["steps"][-1] == 400
    assert all(-10 < v < 10 for v in curve["values"])
    assert untrained["learning_curve"] is None
    assert (trained["agent_kind"], untrained["agent_kind"]) == ("policy", "reference")


LEARNERS = [
    ("ppo", {"num_envs": 2, "num_steps": 16}),
    ("value-search", {"value": "quadratic", "method": "anneal", "budget": 32, "warmup_steps": 50, "batch_size": 32}),
    ("distill", {"teacher_config": {"value": "oracle", "method": "exhaustive"}}),
    ("distill", {"teacher_config": {"value": "quadratic", "method": "exhaustive", "batch_size": 32}}),
]


@pytest.mark.parametrize("agent,config", LEARNERS)
def test_evaluations_along_training_change_nothing_that_training_does(tmp_path, monkeypatch, agent, config):
    """The same trial with one evaluation (the final) and with EVAL_POINTS: the same final metrics,
    and a curve whose last point is the final evaluation."""
    from standin.benchmarks import trial as trial_module  # where a trial's run lives

    trial = Trial("tiny", "standin/Landscape-v0", {"n": 5}, agent, config, 3, 600, 4)
    monkeypatch.setattr(trial_module, "EVAL_POINTS", 1)
    (once,) = [trial_module.run_trial(trial, None)]
    monkeypatch.setattr(trial_module, "EVAL_POINTS", 5)
    along = trial_module.run_trial(trial, None)
    assert once["status"] == along["status"] == "ok", (once["error"], along["error"])
    for key in DETERMINISTIC_METRICS:
        if not key.endswith(("_ms", "_seconds")):
            assert once["metrics"][key] == along["metrics"][key], key
    assert once["eval_curve"]["steps"] == [600]
    curve = along["eval_curve"]
    steps = curve["steps"]
    assert steps == sorted(set(steps)) and steps[-1] == 600 and steps[0] >= 120
    assert curve["normalized_return"][-1] == along["metrics"]["normalized_return"]
    # every point is evaluated, except where a student can't act (while its teacher trains) and
    # where its rounds of 150 steps jump past two points at once
    teacher = config.get("teacher_config", {}).get("value")
    assert len(steps) == {None: 5, "oracle": 4, "quadratic": 3}[teacher]
    assert all(v is not None and -5 < v < 5 for v in curve["normalized_return"])


def test_agents_that_dont_learn_draw_flat_lines_over_the_learners_budget(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ppo = Trial("tiny", "standin/Landscape-v0", {"n": 4}, "ppo", {"num_envs": 2, "num_steps": 10}, 0, 100, 2)
    run_trials([ppo, tiny("oracle")], tmp_path, workers=1, progress=False)
    trained, reference = lines(tmp_path / "results.jsonl")
    assert trained["eval_curve"]["steps"] == [20, 40, 60, 80, 100]  # one log per 20-step rollout
    assert reference["eval_curve"] is None
    for record, trial, flat in ((trained, ppo, False), (reference, tiny("oracle"), True)):
        run = EventAccumulator(str(tmp_path / "tb" / trial.run_name))
        run.Reload()
        events = run.Scalars("eval/normalized_return")
        assert [e.step for e in events] == [20, 40, 60, 80, 100]
        values = {round(e.value, 6) for e in events}
        assert (len(values) == 1) == flat
        assert events[-1].value == pytest.approx(record["metrics"]["normalized_return"], rel=1e-6)


def test_failed_trial_is_not_retried_unless_asked(tmp_path, failing_agent):
    trials = [tiny("random"), tiny("failing"), tiny("oracle")]
    run_trials(trials, tmp_path, workers=1, progress=False)
    assert run_trials(trials, tmp_path, workers=1, progress=False)["skipped"] == 3

    failing_agent.broken = False
    summary = run_trials(trials, tmp_path, workers=1, retry_failed=True, progress=False)
    assert summary == {"total": 3, "skipped": 2, "ok": 1, "error": 0}
    records = lines(tmp_path / "results.jsonl")
    assert len(records) == 4
    assert records[-1]["trial_id"] == trials[1].trial_id and records[-1]["status"] == "ok"
    # now everything is ok: retrying again runs nothing
    summary = run_trials(trials, tmp_path, workers=1, retry_failed=True, progress=False)
    assert summary["skipped"] == 3 and len(lines(tmp_path / "results.jsonl")) == 4


# ------------------------------------------------------------------------------------- killed mid-write


def test_partial_last_line_is_removed_and_finished_records_survive(tmp_path):
    first = [tiny("random"), tiny("oracle")]
    run_trials(first, tmp_path, workers=1, progress=False)
    results = tmp_path / "results.jsonl"
    finished = results.read_bytes()
    half = finished.splitlines()[0][: len(finished.splitlines()[0]) // 2]
    with open(results, "ab") as f:  # a kill in the middle of a third record's write
        f.write(half)

    third = tiny("random", seed=9)
    summary = run_trials([*first, third], tmp_path, workers=1, progress=False)
    assert summary == {"total": 3, "skipped": 2, "ok": 1, "error": 0}
    data = results.read_bytes()
    assert data.startswith(finished)  # the finished records are untouched
    assert half not in data[len(finished):]
    records = lines(results)  # every line parses
    assert [r["trial_id"] for r in records] == [t.trial_id for t in [*first, third]]


def test_read_records_cuts_the_partial_line_off_the_file(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, {"trial_id": "a", "status": "ok"})
    with open(path, "ab") as f:
        f.write(b'{"trial_id": "b", "sta')
    assert read_records(path) == [{"trial_id": "a", "status": "ok"}]
    assert path.read_bytes() == b'{"trial_id": "a", "status": "ok"}\n'
    assert read_records(tmp_path / "absent.jsonl") == []


def test_append_record_writes_exactly_one_terminated_line(tmp_path):
    path = tmp_path / "results.jsonl"
    record = {"trial_id": "x", "traceback": "line one\nline two\n", "value": np.float32(0.5),
              "count": np.int64(3), "array": np.arange(3)}
    append_record(path, record)
    data = path.read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"trial_id": "x", "traceback": "line one\nline two\n", "value": 0.5, "count": 3,
                                "array": [0, 1, 2]}
    append_record(path, {"trial_id": "y"})
    assert path.read_bytes().count(b"\n") == 2
    assert [r["trial_id"] for r in lines(path)] == ["x", "y"]


# ------------------------------------------------------------------------------------- process pool


def test_process_pool_gives_the_same_metrics_as_in_process(tmp_path):
    trials = [tiny(agent, seed=seed, n=5, episodes=4) for agent in ("random", "oracle") for seed in (0, 1)]
    run_trials(trials, tmp_path / "serial", workers=1, progress=False)
    summary = run_trials(trials, tmp_path / "pool", workers=2, progress=False)
    assert summary == {"total": 4, "skipped": 0, "ok": 4, "error": 0}
    serial = {r["trial_id"]: r for r in lines(tmp_path / "serial" / "results.jsonl")}
    pool = {r["trial_id"]: r for r in lines(tmp_path / "pool" / "results.jsonl")}
    assert set(serial) == set(pool) == {t.trial_id for t in trials}
    for tid, r in serial.items():
        assert pool[tid]["status"] == "ok"
        for key in DETERMINISTIC_METRICS:
            assert pool[tid]["metrics"][key] == r["metrics"][key], (r["agent_label"], r["seed"], key)
    # different seeds do give different random returns (the comparison above is not vacuous)
    randoms = [r["metrics"]["return"] for r in serial.values() if r["agent"] == "random"]
    assert randoms[0] != randoms[1]
    tb = tmp_path / "pool" / "tb"
    runs = {p.parent for p in tb.rglob("events.out.tfevents.*")}
    # one run per trial, plus the root experiment, the sweep's layout and one sweep run per agent
    assert runs == {tb / t.run_name for t in trials} | {tb, tb / "_sweep", tb / "_sweep" / "random",
                                                         tb / "_sweep" / "oracle"}


def test_duplicate_trials_in_one_run_are_recorded_once(tmp_path):
    """BUG: the same trial twice in one run (e.g. a suite with ``seeds = [0, 0]`` or two identical
    [[agents]] tables) runs twice and appends two lines with the same trial_id."""
    trial = tiny("random")
    run_trials([trial, tiny("random")], tmp_path, workers=1, progress=False)
    ids = [r["trial_id"] for r in lines(tmp_path / "results.jsonl")]
    assert ids == [trial.trial_id]


def test_a_trial_past_its_time_limit_is_an_error_and_the_suite_goes_on(tmp_path):
    """20M ppo steps would take hours; the 1 s limit stops the trial, records why, and the next
    trial runs (in a worker process, as a suite runs them)."""
    import dataclasses

    slow = dataclasses.replace(tiny("ppo"), train_steps=20_000_000, time_limit=1.0)
    trials = [slow, tiny("random")]
    t0 = time.perf_counter()
    summary = run_trials(trials, tmp_path, workers=2, progress=False)
    assert time.perf_counter() - t0 < 60
    assert summary["ok"] == 1 and summary["error"] == 1
    by_agent = {r["agent"]: r for r in lines(tmp_path / "results.jsonl")}
    assert by_agent["ppo"]["status"] == "error" and by_agent["ppo"]["time_limit"] == 1.0
    assert by_agent["ppo"]["error"] == "TrialTimeout: the trial ran past its time_limit of 1 s"
    assert by_agent["random"]["status"] == "ok" and by_agent["random"]["time_limit"] is None
