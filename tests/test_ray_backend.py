"""benchmarks.ray_backend: the smoke suite under Ray records what the local pool records, files included.

Also: a trial that raises and a task whose worker dies are error records and the others go on; a
rerun resumes; a process already connected to Ray stays connected. Skipped without ray installed.
``RayCrash-v0`` is registered here for the tasks: they import this module (``test_ray_backend:...``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import pytest

ray = pytest.importorskip("ray")

from standin.benchmarks import suite  # noqa: E402
from standin.benchmarks.runner import run_trials  # noqa: E402
from standin.benchmarks.suite import Trial  # noqa: E402

TIMING_METRICS = {"decision_ms", "train_seconds", "eval_seconds", "teacher_decision_ms", "train_eval_seconds"}
RUN_SPECIFIC = {"metrics", "eval_curve", "finished_at", "provenance", "wall_seconds"}


class CrashEnv(gym.Env):
    """Kills the process that makes it: a task whose worker dies in the middle of a trial."""

    def __init__(self):
        os._exit(3)


if "RayCrash-v0" not in gym.registry:
    gym.register("RayCrash-v0", entry_point=CrashEnv)


def trivial(env_id="standin/Landscape-v0", **env_kwargs) -> Trial:
    return Trial("ray", env_id, env_kwargs, "random", {}, 0, 0, 1)


def records(out: Path) -> dict[str, dict]:
    return {r["trial_id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def files(out: Path) -> set[str]:
    """Files under ``out`` (event files by their run directory: their names hold a time and a pid)."""
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    return {re.sub(r"events\.out\.tfevents\..*", "events", name) for name in names}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke suite run once with Ray (a local instance it starts) and once with the local pool."""
    root = tmp_path_factory.mktemp("smoke")
    trials = suite.load("smoke").trials
    on_ray = run_trials(trials, root / "ray", backend="ray", progress=False)
    started_left_running = ray.is_initialized()
    local = run_trials(trials, root / "local", workers=2, progress=False)
    return SimpleNamespace(trials=trials, root=root, on_ray=on_ray, local=local,
                           started_left_running=started_left_running)


def test_smoke_suite_under_ray_records_what_the_local_pool_does(smoke):
    assert smoke.on_ray == smoke.local == {"total": len(smoke.trials), "skipped": 0, "ok": len(smoke.trials),
                                           "error": 0}
    assert not smoke.started_left_running  # the instance it started is shut down
    on_ray, local = records(smoke.root / "ray"), records(smoke.root / "local")
    assert set(on_ray) == set(local) == {t.trial_id for t in smoke.trials}
    for trial_id, r in on_ray.items():
        ref = local[trial_id]
        assert r["status"] == "ok", r["error"]
        assert {k: v for k, v in r.items() if k not in RUN_SPECIFIC} == {
            k: v for k, v in ref.items() if k not in RUN_SPECIFIC}
        assert {k: v for k, v in r["metrics"].items() if k not in TIMING_METRICS} == {
            k: v for k, v in ref["metrics"].items() if k not in TIMING_METRICS}
        if ref["eval_curve"] is not None:
            assert {k: v for k, v in r["eval_curve"].items() if k not in TIMING_METRICS} == {
                k: v for k, v in ref["eval_curve"].items() if k not in TIMING_METRICS}


def test_trial_files_come_back_to_the_output_directory(smoke):
    out = smoke.root / "ray"
    assert files(out) == files(smoke.root / "local")  # TensorBoard runs, logs, checkpoints, the experiment
    for trial in smoke.trials:
        r = records(out)[trial.trial_id]
        assert any((out / "tb" / trial.run_name).glob("events.out.tfevents.*"))
        assert r["log"] == f"logs/{trial.trial_id}.log"
        assert f"trial {trial.trial_id}" in (out / r["log"]).read_text()
        if r["checkpoint"] is not None:
            assert (out / r["checkpoint"]).stat().st_size > 0
    assert any(records(out)[t.trial_id]["checkpoint"] for t in smoke.trials)


def test_rerun_skips_every_recorded_trial(smoke):
    results = smoke.root / "ray" / "results.jsonl"
    before = results.read_bytes()
    summary = run_trials(smoke.trials, smoke.root / "ray", backend="ray", progress=False)
    assert summary == {"total": len(smoke.trials), "skipped": len(smoke.trials), "ok": 0, "error": 0}
    assert results.read_bytes() == before


def test_failed_trials_and_dead_workers_are_error_records(tmp_path):
    raises = trivial(n=4, no_such_kwarg=1)  # envs.make raises inside run_trial
    crashes = trivial(f"{__name__}:RayCrash-v0")  # the task's worker process exits
    fine = trivial(n=4)
    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        summary = run_trials([raises, crashes, fine], tmp_path, backend="ray", workers=1, progress=False)
        assert ray.is_initialized()  # a connection made before is left open
    finally:
        ray.shutdown()
    assert summary == {"total": 3, "skipped": 0, "ok": 1, "error": 2}
    got = records(tmp_path)
    assert got[fine.trial_id]["status"] == "ok"

    r = got[raises.trial_id]
    assert r["status"] == "error" and "no_such_kwarg" in r["error"]
    assert "no_such_kwarg" in (tmp_path / r["log"]).read_text()  # its log, with the traceback, came back

    r = got[crashes.trial_id]
    assert r["status"] == "error" and r["error"].startswith("ray task failed: ")
    assert r["env_id"] == crashes.env_id and r["log"] is None and r["finished_at"]


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ValueError, match=r"pip install -e '\.\[ray\]'"):
        run_trials([trivial(n=4)], tmp_path, backend="ray", progress=False)
