"""The Ray backend: each trial is a Ray task; the driver records the results as they finish.

``standin bench SUITE --backend ray`` starts a local Ray instance (or, with ``--address``, joins an
existing cluster) and submits one task per trial, one CPU each, with one BLAS/OpenMP/numba thread
(``run_trial`` sets torch's). The driver stays the only writer of the run directory, as with the
local process pool: it calls ``done(record)`` for each trial in the order the trials finish.

Why a trial's files travel back with its record: on a cluster a task runs on another node, whose
filesystem the driver cannot see, and the driver's ``out_dir`` need not exist there. So a task runs
``run_trial`` into a temporary directory on its node, reads back what the trial wrote there (its
TensorBoard run, its log and, for a trained agent, its checkpoint: kilobytes to a few MB) and
returns those bytes with the record; the temporary directory is removed before the task returns.
The driver clears the trial's old TensorBoard run, writes the files under ``out_dir`` at the same
relative paths, then records the trial. The record's ``log`` and ``checkpoint`` paths are relative
to the output directory, so they hold on the driver unchanged.

A task that fails as a whole (its worker crashed or was killed, its node was lost) is recorded as
an error and the suite goes on; such a task is not retried, as the local pool doesn't retry a
worker that died (``--retry-failed`` reruns it). Ctrl-C cancels the tasks not yet finished; the
finished ones are already on disk.

Every node of a cluster needs standin installed, as the driver has it, and any module a suite's
``module:Env-v0`` ids name importable. A task also looks for modules in the driver's ``sys.path``
directories that exist on its node (after its own), as the local pool's workers do; on this machine
that makes a module importable by the driver importable by the tasks too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath

from standin.benchmarks.trial import THREAD_VARS, cost_hint, error_record, run_trial

THREAD_ENV = {name: "1" for name in THREAD_VARS}
"""Set in every task's worker process before it imports numpy: one thread per task, one task per CPU."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("the ray backend needs ray: pip install -e '.[ray]'") from None
    return ray


def run_on_ray(todo, out_dir: Path, done, *, address: str | None = None, workers: int | None = None,
               horizon=lambda trial: 0) -> None:
    """Run ``todo`` (a list of trials) as Ray tasks; call ``done(record)`` here as each one finishes.

    ``address``: an existing cluster's (e.g. ``"auto"``, ``"ray://head:10001"``); default: start a
    local Ray instance on this machine, shut down at the end. ``workers``: at most this many tasks
    in flight (default: all submitted at once, Ray runs as many as the CPUs allow). If this process
    is already connected to Ray, the trials run there and the connection is left open.
    ``horizon(trial)``: as :func:`standin.benchmarks.trial.run_trial`'s. The local backend
    (:mod:`standin.benchmarks.local_backend`) has the same interface.
    """
    ray = _import_ray()
    out_dir = Path(out_dir)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    connected = ray.is_initialized()
    options = {"num_cpus": 1, "max_retries": 0}
    if connected:  # a job started by someone else: its workers lack our thread settings
        options["runtime_env"] = {"env_vars": THREAD_ENV}
    else:
        try:
            ray.init(address=address or "local", include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False, runtime_env={"env_vars": THREAD_ENV})
        except ConnectionError as e:  # no cluster at that address
            raise ValueError(f"cannot reach a Ray cluster at {address!r}: {e}") from None
    task = ray.remote(_run_trial_task).options(**options)
    queue = sorted(todo, key=cost_hint, reverse=True)  # longest first: the run doesn't end on one long trial
    queue.reverse()  # pop() from the end
    limit = len(queue) if workers is None else workers
    driver_path = [p for p in sys.path if p]
    pending = {}  # ObjectRef -> Trial
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                trial = queue.pop()
                pending[task.remote(trial, driver_path, horizon(trial))] = trial
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(ref)
            try:
                record, files = ray.get(ref)
            except Exception as e:  # the task itself failed: worker crashed, node lost, ...
                text = f"{type(e).__name__}: {e}"
                record, files = error_record(trial, f"ray task failed: {text.splitlines()[0]}", text), {}
            _write_files(out_dir, trial, files)
            done(record)
    except BaseException:  # Ctrl-C (or a failure here): stop the trials still running or queued
        for ref in pending:
            with contextlib.suppress(Exception):  # finished meanwhile, or Ray is going down too
                ray.cancel(ref, force=True)
        raise
    finally:
        if not connected:
            ray.shutdown()


def _run_trial_task(trial, driver_path: list[str], horizon: int = 0) -> tuple[dict, dict[str, bytes]]:
    """On a worker: run the trial in a temporary directory; return its record and the files it wrote."""
    sys.path.extend(p for p in driver_path if p not in sys.path and os.path.isdir(p))
    with tempfile.TemporaryDirectory(prefix="standin-trial-") as tmp:
        root = Path(tmp)
        record = run_trial(trial, root, horizon)
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return record, files


def _write_files(out_dir: Path, trial, files: dict[str, bytes]) -> None:
    """Put a trial's files under ``out_dir``, replacing its old TensorBoard run (as ``run_trial`` does)."""
    shutil.rmtree(out_dir / "tb" / trial.run_name, ignore_errors=True)
    for name, data in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"trial {trial.trial_id} returned a file outside its directory: {name}")
        path = out_dir.joinpath(*rel.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
