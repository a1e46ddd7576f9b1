"""TensorBoard logging with the tags every agent shares, hparams included.

One run directory per trial. Each trial's hyperparameters (a session start) are written into the
*same* run directory as its final metrics (not a separate timestamped sub-run, as
``SummaryWriter.add_hparams`` does), so the HPARAMS tab stays connected to the scalar curves.
One experiment summary at the root of the suite's log directory declares the union of all
trials' hyperparameters and the eval metrics: TensorBoard reads only one experiment, so per-run
experiments would hide every hyperparameter the first-found trial lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

EVAL_TAGS = {
    "eval/return": "return",
    "eval/normalized_return": "normalized_return",
    "eval/optimal_rate": "optimal_rate",
    "eval/decision_ms": "decision_ms",
    "eval/evaluations_per_decision": "evaluations_per_decision",
    "eval/search_error": "search_error",
    "eval/value_error": "value_error",
    "eval/fit_error_uniform": "fit_error_uniform",
    "eval/fit_error_search": "fit_error_search",
    "eval/overestimation": "overestimation",
    "eval/teacher_normalized_return": "teacher_normalized_return",
    "eval/teacher_decision_ms": "teacher_decision_ms",
    "eval/agreement_held_out": "agreement_held_out",
    "safety/failure_rate": "failure_rate",
    "safety/failure_upper": "failure_upper",
    "safety/fallback_rate": "fallback_rate",
    "safety/acceptance_rate": "acceptance_rate",
    "safety/at_scale/failure_rate": "safety_failure_rate",
    "safety/at_scale/failure_upper": "safety_failure_upper",
    "safety/at_scale/decisions": "safety_decisions",
    "adversary/failures_per_query": "adversary_failures_per_query",
    "adversary/failures": "adversary_failures",
    "adversary/seconds": "adversary_seconds",
}
"""TensorBoard tag → ``metrics`` key of the results record."""
EVAL_CURVE_TAGS = {tag: EVAL_TAGS[tag] for tag in ("eval/return", "eval/normalized_return", "eval/optimal_rate",
                                                   "eval/decision_ms", "eval/evaluations_per_decision",
                                                   "safety/failure_rate", "safety/failure_upper")}
"""The evaluation scalars logged at every evaluation point along training (the others only at the end)."""


def _hparam_value(v):
    if isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def flat_hparams(trial) -> dict:
    """Everything that identifies a trial, flat, with TensorBoard-friendly values."""
    hp = {"env": trial.env_id, "agent": trial.agent, "agent_label": trial.label, "seed": trial.seed,
          "train_steps": trial.train_steps}
    hp.update({f"env.{k}": _hparam_value(v) for k, v in trial.env_kwargs.items()})
    hp.update({f"agent.{k}": _hparam_value(v) for k, v in trial.full_config.items()})
    return hp


def config_markdown(hp: dict) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in hp.items())
    return "| key | value |\n|---|---|\n" + rows


class TBLogger:
    """The runner's logger: ``scalar`` for curves, ``finish`` for final metrics and hparams."""

    def __init__(self, logdir):
        self.writer = SummaryWriter(log_dir=str(logdir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, float(value), int(step))

    def finish(self, hp: dict, metrics: dict, step: int, also_at: list[int] = ()) -> None:
        """Write the final eval scalars at ``step``, the hparams tied to them, and the config table.

        ``also_at``: earlier steps at which to repeat the evaluation curve's scalars (an agent that
        doesn't learn: a flat line over its comparison's training budget)."""
        for earlier in also_at:
            for tag, key in EVAL_CURVE_TAGS.items():
                if metrics.get(key) is not None:
                    self.scalar(tag, metrics[key], earlier)
        values = {tag: metrics[key] for tag, key in EVAL_TAGS.items() if metrics.get(key) is not None}
        for tag, value in values.items():
            self.scalar(tag, value, step)
        _, ssi, sei = hparams_summary(hp, values)
        for summary in (ssi, sei):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", config_markdown(hp), 0)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def write_experiment(tb_root, hparam_dicts: list[dict]) -> None:
    """Write the one experiment summary of ``tb_root``: every hyperparameter seen, the eval metrics.

    A hyperparameter whose values are all numbers is numeric, all booleans boolean, else a string.
    Earlier experiment files in ``tb_root`` itself (not in trial runs) are replaced.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    kinds: dict[str, set] = {}
    for hp in hparam_dicts:
        for k, v in hp.items():
            kinds.setdefault(k, set()).add(
                "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "str")
    dtype = {"bool": api_pb2.DATA_TYPE_BOOL, "number": api_pb2.DATA_TYPE_FLOAT64}
    infos = [api_pb2.HParamInfo(name=k, type=dtype.get(next(iter(t)), api_pb2.DATA_TYPE_STRING)
                                if len(t) == 1 else api_pb2.DATA_TYPE_STRING)
             for k, t in sorted(kinds.items())]
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in EVAL_TAGS]
    content = plugin_data_pb2.HParamsPluginData(
        experiment=api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics),
        version=metadata.PLUGIN_DATA_VERSION)
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()))
    summary = Summary(value=[Summary.Value(tag=metadata.EXPERIMENT_TAG, metadata=meta)])

    root = Path(tb_root)
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(log_dir=str(root))
    writer.file_writer.add_summary(summary)
    writer.close()


SWEEP_RUN = "_sweep"
"""The suite-level runs under ``tb/``: ``_sweep/<agent label>``, one run per agent (so each agent
has its own colour and legend entry), with ``round(log2 |A|)`` as the step; ``_sweep`` itself holds
only the custom-scalars layout."""
SWEEP_METRICS = ("normalized_return", "optimal_rate", "return", "decision_ms", "evaluations_per_decision")


def sweep_tag(family: str, metric: str) -> str:
    return f"sweep/{family}/{metric}"


def write_sweep(tb_root, records: list[dict]) -> Path | None:
    """Write ``tb_root/_sweep``: per agent, each metric's mean over seeds at step ``round(log2 |A|)``,
    and the custom-scalars layout (one category per env family, one chart per metric, every agent's
    run overlaid).

    ``records`` are results records; only ``ok`` ones count, the last one per ``trial_id``. The runs
    are rewritten from scratch each time, so they always match the records. Returns the directory
    (None when no record is ok).
    """
    import re
    import shutil

    import numpy as np

    from standin.benchmarks.report import latest_per_trial
    from standin.benchmarks.suite import safe_name

    ok = [r for r in latest_per_trial(records) if r.get("status") == "ok" and r.get("log2_actions") is not None]
    root = Path(tb_root) / SWEEP_RUN
    shutil.rmtree(root, ignore_errors=True)
    if not ok:
        return None
    points: dict[str, dict[tuple, list[float]]] = {}
    for r in ok:
        for metric in SWEEP_METRICS:
            value = r["metrics"].get(metric)
            if value is not None:
                key = (r["env_family"], metric, int(round(r["log2_actions"])))
                points.setdefault(r["agent_label"], {}).setdefault(key, []).append(float(value))
    charts: set[tuple[str, str]] = set()
    for agent, series in sorted(points.items()):
        writer = SummaryWriter(log_dir=str(root / safe_name(agent)))
        for (family, metric, step), values in sorted(series.items()):
            writer.add_scalar(sweep_tag(family, metric), float(np.mean(values)), step)
            charts.add((family, metric))
        writer.close()
    layout: dict[str, dict] = {}
    for family, metric in sorted(charts, key=lambda c: (c[0], SWEEP_METRICS.index(c[1]))):
        layout.setdefault(f"sweep: {family}", {})[f"{metric} vs log2 |A|"] = [
            "Multiline", ["^" + re.escape(sweep_tag(family, metric)) + "$"]]
    writer = SummaryWriter(log_dir=str(root))
    writer.add_custom_scalars(layout)
    writer.close()
    return root
