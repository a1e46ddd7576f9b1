"""The runner: run a suite's trials not yet recorded, record one JSON line per trial, resume where a
run stopped.

Only the driver writes ``results.jsonl`` (:mod:`standin.benchmarks.records`), holding the run
directory's writer lock throughout; the trials run on a backend, a local process pool
(:mod:`standin.benchmarks.local_backend`) or Ray (:mod:`standin.benchmarks.ray_backend`), each
trial as :func:`standin.benchmarks.trial.run_trial`. A kill at any moment leaves every finished
trial on disk; a trial's leftovers from a killed run (a partial TensorBoard run, log, checkpoint)
are cleared before it reruns. A trial that raises is recorded with its error and the suite goes on.

The names of a trial's run and its records (``evaluate``, ``run_trial``, ``read_records``, ...) are
also importable from here.
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

from standin.benchmarks.local_backend import run_local
from standin.benchmarks.lock import writer_lock
from standin.benchmarks.records import append_record, cpu_model, provenance, read_records
from standin.benchmarks.suite import unique
from standin.benchmarks.trial import EVAL_SEED_OFFSET, eval_points, evaluate, run_trial

__all__ = ["BACKENDS", "EVAL_SEED_OFFSET", "append_record", "clear_unfinished", "cpu_model", "eval_points", "evaluate",
           "pending_trials", "provenance", "read_records", "run_trial", "run_trials"]


def pending_trials(trials, records, retry_failed: bool = False):
    """Trials not yet recorded (with ``retry_failed``, also those whose last record is an error)."""
    last = {r["trial_id"]: r["status"] for r in records}
    return [t for t in unique(trials) if t.trial_id not in last or (retry_failed and last[t.trial_id] != "ok")]


BACKENDS = ("local", "ray")


def run_trials(trials, out_dir: Path, *, workers: int | None = None, retry_failed: bool = False,
               progress: bool = True, title: str = "trials", backend: str = "local",
               address: str | None = None) -> dict:
    """Run the trials not yet in ``out_dir/results.jsonl``; returns counts of what happened.

    ``backend="local"`` runs them in a process pool of ``workers`` processes (default: the cores);
    ``"ray"`` runs each as a Ray task on the cluster at ``address`` (default: a local Ray
    instance), with at most ``workers`` in flight if given. Either way only this process writes
    ``results.jsonl``, and it holds ``out_dir``'s writer lock (:mod:`benchmarks.lock`) throughout:
    a second run on the same directory raises :class:`benchmarks.lock.RunDirectoryBusy` at once.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ValueError("--address needs --backend ray")
    with writer_lock(out_dir):  # one writer per run directory (RunDirectoryBusy names the other)
        return _run_trials(trials, out_dir, workers, retry_failed, progress, title, backend, address)


def _run_trials(trials, out_dir, workers, retry_failed, progress, title, backend, address) -> dict:
    results = out_dir / "results.jsonl"
    records = read_records(results)
    trials = unique(trials)
    todo = pending_trials(trials, records, retry_failed)
    summary = {"total": len(trials), "skipped": len(trials) - len(todo), "ok": 0, "error": 0}
    if not todo:
        return summary
    tb_root = out_dir / "tb"
    clear_unfinished(todo, out_dir)
    horizon = functools.partial(_horizon, _horizons(trials))
    prov = provenance()

    bar = _Progress(len(trials), summary["skipped"], title, enabled=progress)
    with bar:
        def done(record):
            record["provenance"] = prov
            append_record(results, record)
            summary[record["status"]] += 1
            bar.advance(record, summary["error"])

        if backend == "ray":
            from standin.benchmarks.ray_backend import run_on_ray

            run_on_ray(todo, out_dir, done, address=address, workers=workers, horizon=horizon)
        else:
            run_local(todo, out_dir, done, workers=workers, horizon=horizon)
    from standin.benchmarks.tblog import flat_hparams, write_experiment, write_sweep

    write_experiment(tb_root, [flat_hparams(t) for t in trials])
    write_sweep(tb_root, read_records(results))
    return summary


def _horizons(trials) -> dict[str, int]:
    """Per env setting, the largest training budget among the trials: where the flat evaluation
    lines of the agents that don't learn end."""
    out: dict[str, int] = {}
    for t in trials:
        out[t.env_label] = max(out.get(t.env_label, 0), t.train_steps)
    return out


def _horizon(horizons: dict[str, int], trial) -> int:
    return horizons.get(trial.env_label, 0)


def clear_unfinished(todo, out_dir: Path) -> None:
    """Remove what trials about to (re)run left from an earlier, killed run: a partial TensorBoard
    run, log and checkpoint. Finished trials are untouched."""
    for trial in todo:
        shutil.rmtree(out_dir / "tb" / trial.run_name, ignore_errors=True)
        for leftover in (out_dir / "logs" / f"{trial.trial_id}.log", out_dir / "checkpoints" / f"{trial.trial_id}.pt"):
            leftover.unlink(missing_ok=True)


class _Progress:
    """A rich progress bar: trials done / total, failures, elapsed and ETA."""

    def __init__(self, total, done, title, enabled=True):
        self.enabled = enabled and total > 0
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), TextColumn("{task.fields[last]}"), transient=False,
            console=Console(file=sys.stdout),  # bound now: a trial run in-process redirects sys.stdout to its log
        )
        self.task = self.progress.add_task(title, total=total, completed=done, failed=0, last="")

    def __enter__(self):
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.stop()

    def advance(self, record, failed):
        if self.enabled:
            last = f"{record['env_label']} · {record['agent_label']} · seed {record['seed']}"
            self.progress.update(self.task, advance=1, failed=failed, last=last[:60])
        elif record["status"] == "error":
            print(f"trial failed: {record['env_label']} {record['agent_label']} seed {record['seed']}: "
                  f"{record['error']}", file=sys.stderr)
