"""One writer per run directory: a second writer stops at once naming the first; a lock left by a
killed process does not block; the lock is re-entrant within a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from standin.benchmarks.cli import main
from standin.benchmarks.lock import LOCK_NAME, RunDirectoryBusy, writer_lock
from standin.benchmarks.runner import run_trials
from standin.benchmarks.suite import Trial
from tests.test_resume import LONG_AND_SHORT

ROOT = Path(__file__).parents[1]
TINY = [Trial("tiny", "standin/Landscape-v0", {"n": 4}, "random", {}, 0, 0, 2)]


def _first_writer(out: Path, suite: Path) -> subprocess.Popen:
    """A real ``standin bench`` writing ``out``, returned once it holds the lock."""
    suite.write_text(LONG_AND_SHORT)  # its ppo trial runs first, for about a minute
    cmd = [sys.executable, "-m", "standin.benchmarks.cli", "bench", str(suite), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / LOCK_NAME).exists() and (out / LOCK_NAME).read_text().startswith(f"pid {proc.pid} "):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the first writer never took the lock")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock semantics checked on Linux")
def test_a_second_writer_stops_at_once_and_a_killed_one_does_not_block(tmp_path, capsys):
    out = tmp_path / "run"
    holder = _first_writer(out, tmp_path / "slow.toml")
    try:
        t0 = time.monotonic()
        with pytest.raises(RunDirectoryBusy, match=f"pid {holder.pid} "):
            run_trials(TINY, out, progress=False)
        for backend in ("local", "ray"):  # the lock is taken before any backend starts
            with pytest.raises(RunDirectoryBusy):
                run_trials(TINY, out, progress=False, backend=backend)
        assert main(["bench", "smoke", "--out", str(out)]) == 2
        assert time.monotonic() - t0 < 30
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("standin: error: ") and f"pid {holder.pid} " in err[0]
        assert not (out / "results.jsonl").exists()  # nothing recorded: the first is still training
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK_NAME).read_text().startswith(f"pid {holder.pid} ")  # the killed holder's note stays
    summary = run_trials(TINY, out, progress=False)  # and does not block
    assert summary["ok"] == 1
    assert (out / LOCK_NAME).read_text() == ""  # released


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with writer_lock(tmp_path), writer_lock(tmp_path):
        note = (tmp_path / LOCK_NAME).read_text()
        assert note.startswith(f"pid {os.getpid()} ")
    assert (tmp_path / LOCK_NAME).read_text() == ""
    with writer_lock(tmp_path):  # and can be taken again
        pass
