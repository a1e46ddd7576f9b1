"""A conservative agent's failure rate measured on many decisions at once.

:func:`benchmarks.runner.evaluate` steps one env one decision at a time (about 1–2 ms a decision
for ``filtered`` on Completion-v0), which is right for returns but too slow for the failure rates a
conservative policy is judged by: telling 10⁻⁴ from 10⁻⁵ takes millions of decisions.
:func:`evaluate_at_scale` runs the same decision rule on ``batch`` prompts at a time: one env core
of ``batch`` prompts (the env's ``make_core``), the agent's ``act_batch`` on all of them, and the
core's numba ``step`` for the overseer's verdicts. Each decision is a fresh prompt, as in
Completion-v0's episodes, so the failures are independent and the exact binomial bounds of
:func:`benchmarks.stats.failure_rate` apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from standin.benchmarks.stats import failure_rate

ENV_BATCH_API = ("make_core", "quality_batch")
"""What an env needs for :func:`evaluate_at_scale`: a core of many prompts and their candidates' quality."""


def evaluate_at_scale(agent, env, decisions: int, seed: int, batch: int = 4096,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """The failure rate of ``agent`` on ``decisions`` fresh prompts of ``env``, ``batch`` at a time.

    Parameters
    ----------
    agent
        A fitted agent with ``act_batch(obs, core, idx)`` (``agents.filtered.FilteredAgent``); it
        draws its candidates from its own generator, so the result depends on its state as well as
        on ``seed``, as :func:`benchmarks.runner.evaluate`'s does.
    env
        The env the agent was fitted on (or one with the same instance); its unwrapped env must have
        the batch API :data:`ENV_BATCH_API` (Completion-v0 has it).
    decisions
        How many decisions (prompts), ``>= 1``.
    seed
        Seeds the prompts: slot ``i`` of the core gets its own stream, from ``seed`` and ``i``.
    batch
        Prompts decided at once (the core's size), ``>= 1``; the last round takes what is left.
    progress
        Called as ``progress(done, decisions)`` after each round.

    Returns
    -------
    dict
        ``safety_decisions``, ``safety_failures`` (catastrophes), ``safety_failure_rate``,
        ``safety_failure_upper`` (the one-sided 95% Clopper–Pearson bound, about ``3 / decisions``
        with no failure), ``safety_fallback_rate`` (decisions with no accepted candidate),
        ``safety_acceptance_rate`` (mean share of the candidates accepted) and ``safety_seconds``.
    """
    inner = env.unwrapped
    missing = [name for name in ENV_BATCH_API if not hasattr(inner, name)]
    if missing:
        raise ValueError(f"evaluate_at_scale: env {type(inner).__name__} has no batch API: missing "
                         f"{', '.join(missing)} (Completion-v0 has it)")
    if not hasattr(agent, "act_batch"):
        raise ValueError(f"evaluate_at_scale: agent {type(agent).__name__} has no act_batch(obs, core, idx) "
                         "(agents.filtered.FilteredAgent has one)")
    if isinstance(decisions, bool) or not isinstance(decisions, (int, np.integer)) or decisions < 1:
        raise ValueError(f"evaluate_at_scale: decisions must be an integer >= 1, got {decisions!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"evaluate_at_scale: batch must be an integer >= 1, got {batch!r}")
    decisions, batch = int(decisions), int(min(batch, decisions))
    start = time.perf_counter()
    core = inner.make_core(batch, references=False)
    slot_seeds = np.random.SeedSequence([int(seed), 0x5AFE]).generate_state(batch, dtype=np.uint64)
    for i, s in enumerate(slot_seeds):
        core.seed(i, int(s))
    candidates = int(getattr(getattr(agent, "config", None), "candidates", 1))
    failures = fallbacks = accepted = done = 0
    while done < decisions:
        idx = np.arange(min(batch, decisions - done), dtype=np.int64)
        core.reset(idx)  # a fresh prompt in every slot
        actions = np.asarray(agent.act_batch(core.observe(idx), core, idx))
        _check_actions(actions, len(idx), inner)
        core.step(actions, idx)
        failures += int(core.failed[idx].sum())
        fallbacks += int(np.sum(getattr(agent, "last_fallback", 0)))
        accepted += int(np.sum(getattr(agent, "last_accepted", 0)))
        done += len(idx)
        if progress is not None:
            progress(done, decisions)
    rate = failure_rate(failures, decisions)
    return {
        "safety_decisions": decisions,
        "safety_failures": failures,
        "safety_failure_rate": rate.rate,
        "safety_failure_upper": rate.upper,
        "safety_fallback_rate": fallbacks / decisions,
        "safety_acceptance_rate": accepted / (decisions * candidates),
        "safety_seconds": time.perf_counter() - start,
    }


def _check_actions(actions: np.ndarray, m: int, inner) -> None:
    """The core's step kernel trusts its actions: ``m`` of the env's action space, checked at once."""
    space = inner.action_space
    nvec = np.asarray(getattr(space, "nvec", []))
    if actions.shape != (m, *space.shape) or not np.issubdtype(actions.dtype, np.integer) or (
            actions.size and (actions.min() < 0 or (actions >= nvec).any())):
        raise ValueError(f"evaluate_at_scale: act_batch must return {m} actions of {space}, got shape "
                         f"{actions.shape}, dtype {actions.dtype}")
