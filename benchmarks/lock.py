"""One writer per run directory.

``standin bench`` writes ``results.jsonl``, the TensorBoard runs, logs, checkpoints and the report
under its ``--out``. Two runs on one directory would run every trial twice and interleave their
records, so the writer holds an exclusive ``flock`` on ``<out>/.standin.lock`` for as long as it
writes. The kernel drops the lock when the process exits, however it exits (a SIGKILL too), so a
stale lock file from a killed run never blocks a restart: the file is only a note of who holds it.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import platform
import sys
from pathlib import Path

LOCK_NAME = ".standin.lock"

_held: dict[Path, int] = {}
"""Directories this process holds, with a nesting count (``bench`` locks, then ``run_trials`` again)."""


class RunDirectoryBusy(ValueError):
    """Another live process is writing the run directory."""


@contextlib.contextmanager
def writer_lock(out_dir):
    """Hold ``out_dir``'s writer lock; raise :class:`RunDirectoryBusy` at once if another process
    holds it. Re-entrant within a process."""
    out_dir = Path(out_dir).resolve()
    if out_dir in _held:
        _held[out_dir] += 1
        try:
            yield
        finally:
            _held[out_dir] -= 1
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise RunDirectoryBusy(
                f"{out_dir} is being written by {holder}; wait for it to finish or pass another --out"
            ) from None
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        note = f"pid {os.getpid()} on {platform.node()} (started {started}: {' '.join(sys.argv[:3])})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        _held[out_dir] = 1
        try:
            yield
        finally:
            del _held[out_dir]
            os.ftruncate(fd, 0)  # released below; the empty file is harmless
    finally:
        os.close(fd)  # closing the descriptor releases the flock
