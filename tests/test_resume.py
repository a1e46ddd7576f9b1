"""A real suite killed with SIGKILL mid-run, then restarted: no finished trial lost, none run twice.

The smoke suite runs in a subprocess (`standin bench smoke`, 2 workers). Once a few records are on
disk the driver gets SIGKILL (its pool workers die with it). The restart must record exactly the
trials that were missing, leave the earlier records byte for byte, and replace the partial
TensorBoard runs of the trials that were cut off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from standin.benchmarks import suite


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _start_until_recorded(cmd: list[str], results: Path, count: int) -> subprocess.Popen:
    """Start ``cmd`` and return once ``results`` holds ``count`` records (it must still be running)."""
    # SIGINT as a terminal delivers it: a test run started in the background (`make test &`) has it
    # ignored, and a child inherits that
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and len(_records(results)) >= count:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the suite finished before it could be stopped"
    return proc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and pgrep")
def test_sigkill_mid_suite_then_restart_loses_and_repeats_nothing(tmp_path):
    out = tmp_path / "smoke"
    results = out / "results.jsonl"
    trials = suite.load("smoke").trials
    cmd = [sys.executable, "-m", "standin.benchmarks.cli", "bench", "smoke", "--out", str(out), "--workers", "2",
           "--no-report"]
    proc = _start_until_recorded(cmd, results, 3)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    assert not [w for w in workers if _alive(w)], "pool workers outlived the killed driver"

    before = results.read_bytes()
    first = _records(results)
    assert 3 <= len(first) < len(trials)
    done_ids = [r["trial_id"] for r in first]
    assert len(set(done_ids)) == len(done_ids)

    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    after = results.read_bytes()
    assert after[: len(before.rsplit(b"\n", 1)[0])] == before.rsplit(b"\n", 1)[0]  # earlier records kept
    records = _records(results)
    ids = [r["trial_id"] for r in records]
    assert sorted(ids) == sorted(t.trial_id for t in trials)  # every trial once: none lost, none twice
    assert all(r["status"] == "ok" for r in records)
    for t in trials:  # one TensorBoard events file per trial: partial runs were cleared, not added to
        events = list((out / "tb" / t.run_name).glob("events.out.tfevents.*"))
        assert len(events) == 1, (t.run_name, events)
        assert (out / "logs" / f"{t.trial_id}.log").read_text().rstrip().endswith(": ok")


LONG_AND_SHORT = """
eval_episodes = 2
[[envs]]
id = "standin/Landscape-v0"
kwargs = { n = 8 }
[[agents]]
name = "ppo"
train_steps = 500000
[[agents]]
name = "value-search"
sweep = { budget = [10, 20, 30, 40] }
"""
"""One long PPO trial (about a minute) on one worker, short ones on the other: Ctrl-C comes while
the long one runs."""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and pgrep")
def test_ctrl_c_stops_a_running_trial_at_once_and_keeps_finished_ones(tmp_path):
    path = tmp_path / "long.toml"
    path.write_text(LONG_AND_SHORT)
    out = tmp_path / "out"
    results = out / "results.jsonl"
    cmd = [sys.executable, "-m", "standin.benchmarks.cli", "bench", str(path), "--out", str(out), "--workers", "2",
           "--no-report"]
    proc = _start_until_recorded(cmd, results, 1)  # a record: the pool is up, PPO is running
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    proc.wait(timeout=120)
    assert time.monotonic() - t0 < 10  # the PPO trial takes about a minute: it was stopped, not awaited
    assert proc.returncode != 0
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)]
    records = _records(results)
    assert records and all(r["status"] == "ok" and r["agent"] == "value-search" for r in records)
