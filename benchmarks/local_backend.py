"""The local backend: trials in a process pool on this machine (or in this process, with one worker).

:func:`run_local` and :func:`standin.benchmarks.ray_backend.run_on_ray` are the runner's two
backends, with one interface: ``run(todo, out_dir, done, *, workers, horizon)`` runs each trial of
``todo`` with :func:`standin.benchmarks.trial.run_trial` and calls ``done(record)`` in this process
as each one finishes, in the order they finish; the caller records them (it alone writes the run).

Workers are spawned (not forked), each with one BLAS/OpenMP/numba thread, and die with the driver
(Linux), so a killed suite leaves no trial running that would write into the run directory while a
restart reruns it. A worker that dies as a whole (out of memory, killed) gives an error record and
the suite goes on. Ctrl-C kills the running trials at once; the finished ones are already recorded.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from standin.benchmarks.trial import THREAD_VARS, cost_hint, error_record, run_trial


def run_local(todo, out_dir: Path, done: Callable[[dict], None], *, workers: int | None = None,
              horizon: Callable = lambda trial: 0) -> None:
    """Run ``todo`` in ``workers`` processes (default: the cores; one runs them in this process),
    longest first, so the pool doesn't end on one long trial while a core idles; ``done(record)``
    here as each one finishes. ``horizon(trial)``: as :func:`~standin.benchmarks.trial.run_trial`'s."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    if workers == 1:
        for trial in todo:
            done(run_trial(trial, out_dir, horizon(trial)))
        return
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent)
    try:
        with _single_threaded_children():  # workers start at submit and read these then
            ordered = sorted(todo, key=cost_hint, reverse=True)
            futures = {pool.submit(run_trial, t, out_dir, horizon(t)): t for t in ordered}
        for fut in cf.as_completed(futures):
            try:
                record = fut.result()
            except Exception as e:  # the worker itself died (e.g. out of memory)
                record = error_record(futures[fut], f"worker process failed: {type(e).__name__}: {e}")
            done(record)
    except BaseException:  # Ctrl-C: stop the running trials now; finished ones are on disk
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()  # else exiting waits for every running trial to finish
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _die_with_parent() -> None:
    """A pool worker dies with the driver (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:  # the driver died before the call above
            os._exit(1)


@contextlib.contextmanager
def _single_threaded_children():
    """One BLAS/OpenMP thread per worker process: the pool already fills the cores.

    Set in the parent's environment while the pool starts, because a spawned worker's numpy reads
    these when it is imported, before any initializer could run.
    """
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS if saved[k] is None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
