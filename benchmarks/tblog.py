"""TensorBoard logging with the tags every agent shares, hparams included.

One run directory per trial. Hyperparameters are written into the *same* run directory as the
final metrics (not a separate timestamped sub-run, as ``SummaryWriter.add_hparams`` does), so the
hparams tab stays connected to the scalar curves of the run.
"""

from __future__ import annotations

import json

from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

EVAL_TAGS = {
    "eval/return": "return",
    "eval/normalized_return": "normalized_return",
    "eval/optimal_rate": "optimal_rate",
    "eval/decision_ms": "decision_ms",
    "eval/evaluations_per_decision": "evaluations_per_decision",
}
"""TensorBoard tag → ``metrics`` key of the results record."""


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

    def finish(self, hp: dict, metrics: dict, step: int) -> None:
        """Write the final eval scalars at ``step``, the hparams tied to them, and the config table."""
        values = {tag: metrics[key] for tag, key in EVAL_TAGS.items() if metrics.get(key) is not None}
        for tag, value in values.items():
            self.scalar(tag, value, step)
        exp, ssi, sei = hparams_summary(hp, values)
        for summary in (exp, ssi, sei):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", config_markdown(hp), 0)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
