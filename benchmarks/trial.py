"""One trial: train an agent, evaluate it, and return its results record.

:func:`run_trial` is what either backend (``local_backend``, ``ray_backend``) runs for each trial,
in a worker process with one torch thread and one BLAS thread (:data:`THREAD_VARS`): the pool fills
the cores, and more threads per worker oversubscribe them. A trial that raises is returned as an
error record (``status``, ``error``, ``traceback``); one that runs past its ``time_limit`` too.
:func:`evaluate` runs episodes of a fitted agent and gives the record's ``metrics``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import platform
import shutil
import signal
import time
import traceback
from pathlib import Path

import numpy as np

EVAL_SEED_OFFSET = 1_000_000
"""Evaluation contexts come from ``seed + EVAL_SEED_OFFSET``, apart from training's."""
TEACHER_METRICS = ("normalized_return", "return", "decision_ms", "evaluations_per_decision", "failure_rate",
                   "failure_upper")
"""Recorded as ``teacher_<key>`` for an agent with a ``teacher`` (``distill``), null otherwise."""
AGREEMENT_DECISIONS = 50
"""Evaluation decisions (the first ones) on which a student's action is compared with its teacher's."""
SPLIT_DECISIONS = 50
"""Evaluation decisions (the first ones) whose shortfall an agent with ``shortfall()`` splits."""
SPLIT_BATCH = 10
"""Decisions captured (``shortfall_capture``) before their splits run as one batch (``shortfall_batch``):
each capture holds the env's true landscape of its state, so a few at a time."""
OPTIMAL_RTOL = 1e-9


# ------------------------------------------------------------------------- one trial


AUDIT_NULLS = {key: None for key in (
    "adversary_queries", "adversary_failures", "adversary_failures_per_query", "adversary_seconds",
    "adversary_policy_failures", "safety_decisions", "safety_failures", "safety_failure_rate", "safety_failure_upper",
    "safety_fallback_rate", "safety_acceptance_rate", "safety_seconds")}
"""The keys of an agent's ``audit(env, seed)`` (``filtered``'s red-teaming) and of its failure rate at
scale (``benchmarks.safety``, for an agent with ``act_batch`` and ``config.safety_decisions``); null
otherwise."""
FIT_KEYS = ("fit_error_uniform", "fit_error_search", "overestimation")
"""How well a learned value fits, from its ``shortfall`` splits (means; null where not measured)."""


def _mean_of(parts: list[dict], key: str) -> float | None:
    values = [p[key] for p in parts if p.get(key) is not None]
    return float(np.mean(values)) if values else None


def _failure_metrics(failures: int | None, decisions: int) -> dict:
    """``failures`` (catastrophes) among ``decisions``, with the exact binomial bounds; nulls when
    the env reports no catastrophes."""
    if failures is None:
        return {"failures": None, "failure_rate": None, "failure_upper": None}
    from standin.benchmarks.stats import failure_rate

    r = failure_rate(failures, decisions)
    return {"failures": failures, "failure_rate": r.rate, "failure_upper": r.upper}


def evaluate(env, agent, episodes: int, seed: int, diagnostics: bool = True) -> dict:
    """Run ``episodes`` episodes with ``agent.act``; returns the ``metrics`` of a results record.

    ``diagnostics=False`` skips the untimed extras (the shortfall split and a student's agreement
    with its teacher), as the evaluations during training do."""
    returns, highs, lows = [], [], []
    decisions = hits = 0
    evaluations = 0
    act_seconds = 0.0
    ref = getattr(env.unwrapped, "reference", None)
    exact = bool(getattr(ref, "high_is_optimum", False)) and getattr(ref, "per", "decision") == "decision"
    split, splits = getattr(agent, "shortfall", None) if diagnostics else None, []
    capture, batch, captured = getattr(agent, "shortfall_capture", None), getattr(agent, "shortfall_batch", None), []
    if capture is None or batch is None:
        capture = None

    def split_captured():
        splits.extend(p for p in batch(captured) if p is not None)
        captured.clear()

    teacher, agreed = getattr(agent, "teacher", None) if diagnostics else None, []
    if teacher is not None:
        from standin.agents.imitation import agreement
    failures = fallbacks = 0
    accepted = 0.0  # a filter's share of candidates accepted, summed over decisions
    filters = hasattr(agent, "last_accepted") and hasattr(agent, "last_candidates")
    watched = False  # the env reports catastrophes (info["catastrophe"] after each step)
    start = time.perf_counter()
    obs, info = env.reset(seed=seed)
    for _ in range(episodes):
        ret = high = low = 0.0
        done = False
        while not done:
            t0 = time.perf_counter()
            action = agent.act(obs, info)
            act_seconds += time.perf_counter() - t0
            evaluations += int(getattr(agent, "last_evaluations", 0))
            if split is not None and decisions < SPLIT_DECISIONS:  # untimed: not part of the decision
                if capture is not None:  # the state's part now, the searches a batch at a time
                    kept = capture(obs, info, action)
                    if kept is not None:
                        captured.append(kept)
                        if len(captured) >= SPLIT_BATCH:
                            split_captured()
                else:
                    part = split(obs, info, action)
                    if part is not None:
                        splits.append(part)
            if teacher is not None and decisions < AGREEMENT_DECISIONS:  # untimed, like the split
                agreed.append(agreement(action, teacher.act(obs, info), env.action_space))
            opt, rnd = info.get("optimal_value"), info.get("random_value")
            fallbacks += bool(getattr(agent, "last_fallback", False))
            if filters:
                accepted += agent.last_accepted / max(1, agent.last_candidates)
            obs, reward, terminated, truncated, info = env.step(action)
            if "catastrophe" in info:
                watched = True
                failures += bool(info["catastrophe"])
            ret += reward
            decisions += 1
            if opt is not None:
                high += opt
                hits += reward >= opt - OPTIMAL_RTOL * max(1.0, abs(opt))
            if rnd is not None:
                low += rnd
            done = terminated or truncated
        returns.append(ret)
        highs.append(high)
        lows.append(low)
        obs, info = env.reset()
    if captured:
        split_captured()
    mean_ret, mean_high, mean_low = float(np.mean(returns)), float(np.mean(highs)), float(np.mean(lows))
    span = mean_high - mean_low
    return {
        "return": mean_ret,
        "return_std": float(np.std(returns)),
        "optimal_return": mean_high,
        "random_return": mean_low,
        "normalized_return": (mean_ret - mean_low) / span if span > 0 else None,
        "optimal_rate": hits / decisions if exact else None,
        "decision_ms": 1e3 * act_seconds / decisions,
        "search_error": float(np.mean([p["search_error"] for p in splits])) if splits else None,
        "value_error": float(np.mean([p["value_error"] for p in splits])) if splits else None,
        "split_by": ", ".join(sorted({p["split_by"] for p in splits})) or None,
        **{key: _mean_of(splits, key) for key in FIT_KEYS},
        "split_decisions": len(splits),
        "agreement_held_out": float(np.mean(agreed)) if agreed else None,
        "evaluations_per_decision": evaluations / decisions,
        **_failure_metrics(failures if watched else None, decisions),
        "fallback_rate": fallbacks / decisions if hasattr(agent, "last_fallback") else None,
        "acceptance_rate": accepted / decisions if filters else None,
        "decisions": decisions,
        "eval_seconds": time.perf_counter() - start,
    }


def run_trial(trial, out_dir: Path | None, horizon: int = 0) -> dict:
    """Train and evaluate one trial; return its results record (an error record if it raised).

    With an ``out_dir``, the trial writes there (paths in the record are relative to it):
    its TensorBoard run ``tb/<run name>/``, its log ``logs/<trial_id>.log`` (everything it
    prints, warnings and the traceback of a failure) and, for a trained agent with weights,
    ``checkpoints/<trial_id>.pt`` (``standin eval`` loads it).

    A learner is also evaluated at :data:`EVAL_POINTS` points along its budget (see
    :class:`_Evaluator`); an agent that doesn't learn logs its one evaluation at the points of
    ``horizon`` env steps (its comparison's budget), a flat reference line beside the learners' curves.
    """
    start = time.perf_counter()
    record = (_run_trial(trial, None, horizon) if out_dir is None
              else _logged_trial(trial, Path(out_dir), horizon))
    record["wall_seconds"] = time.perf_counter() - start
    return record


def _logged_trial(trial, out_dir: Path, horizon: int = 0) -> dict:
    """``_run_trial`` with everything it prints going to ``out_dir/logs/<trial_id>.log``."""
    log_path = out_dir / "logs" / f"{trial.trial_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        print(f"trial {trial.trial_id}: {trial.env_label} · {trial.label} · seed {trial.seed}")
        print(f"started {now()} on {platform.node()} (pid {os.getpid()})", flush=True)
        record = _run_trial(trial, out_dir, horizon)
        if record["traceback"]:
            print(record["traceback"])
        print(f"finished {record['finished_at']}: {record['status']}")
    record["log"] = str(log_path.relative_to(out_dir))
    return record


def now() -> str:
    """The UTC time, to the second, as records write it."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


CURVE_TAG = "train/episodic_return"
"""The training scalar kept in the record as its ``learning_curve`` (thinned to CURVE_POINTS)."""
CURVE_POINTS = 100


class _CurveLogger:
    """Passes scalars on to ``inner`` and keeps the ``CURVE_TAG`` ones."""

    def __init__(self, inner):
        self.inner, self.steps, self.values = inner, [], []

    def scalar(self, tag: str, value: float, step: int) -> None:
        if tag == CURVE_TAG:
            self.steps.append(int(step))
            self.values.append(float(value))
        self.inner.scalar(tag, value, step)

    def curve(self) -> dict | None:
        if not self.steps:
            return None
        keep = np.unique(np.linspace(0, len(self.steps) - 1, min(CURVE_POINTS, len(self.steps))).round().astype(int))
        return {"tag": CURVE_TAG, "steps": [self.steps[i] for i in keep], "values": [self.values[i] for i in keep]}


EVAL_POINTS = 5
"""Evaluations along a learner's training budget, the last being the final one (at 1/5, 2/5, ... of it)."""


def eval_points(budget: int) -> list[int]:
    """The env steps at which a trial of ``budget`` training steps is evaluated (none for 0)."""
    return sorted({max(1, round(budget * k / EVAL_POINTS)) for k in range(1, EVAL_POINTS + 1)}) if budget > 0 else []


class _Evaluator:
    """Passes scalars on to ``inner``; once training has reached the next evaluation point (the
    clock is the agent's ``agents.common.tick`` calls, or else the steps of its scalars),
    evaluates the agent on the trial's held-out contexts and logs
    ``benchmarks.tblog.EVAL_CURVE_TAGS`` at that step.

    The evaluation runs on an env of its own, without the diagnostics, and puts back every random
    state it could touch (torch's, numpy's global one, the agent's Generators), so the points
    change nothing that training does. An agent that cannot act yet (a student before its teacher
    has trained) is skipped at that point, with a line in the trial's log. The last point is left
    to the final evaluation."""

    def __init__(self, inner, agent, trial, points: list[int]):
        self.inner, self.agent, self.trial = inner, agent, trial
        self.pending = list(points[:-1])
        self.final = points[-1] if points else 0
        self.env = None
        self.steps: list[int] = []
        self.metrics: list[dict] = []
        self.seconds = 0.0

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.inner.scalar(tag, value, step)
        self.step(step)

    def step(self, env_steps: int) -> None:
        """Training has consumed ``env_steps`` env steps (``agents.common.tick``): evaluate if that
        reaches the next point."""
        if self.pending and env_steps >= self.pending[0] and env_steps not in self.steps:
            while self.pending and env_steps >= self.pending[0]:
                self.pending.pop(0)
            if env_steps < self.final:  # the final evaluation covers the end of the budget
                self._evaluate(int(env_steps))

    def _evaluate(self, step: int) -> None:
        import torch

        from standin import envs
        from standin.benchmarks.tblog import EVAL_CURVE_TAGS

        t0 = time.perf_counter()
        saved = _random_state(self.agent)
        try:
            if self.env is None:
                self.env = envs.make(self.trial.env_id, **self.trial.env_kwargs)
            with torch.no_grad():
                m = evaluate(self.env, self.agent, self.trial.eval_episodes, self.trial.seed + EVAL_SEED_OFFSET,
                             diagnostics=False)
        except Exception as e:  # e.g. a student asked to act before it exists
            print(f"evaluation at step {step} skipped: {type(e).__name__}: {e}")
            return
        finally:
            _restore_random_state(saved)
            self.seconds += time.perf_counter() - t0
        self.steps.append(step)
        self.metrics.append(m)
        for tag, key in EVAL_CURVE_TAGS.items():
            if m.get(key) is not None:
                self.inner.scalar(tag, m[key], step)

    def curve(self, final_step: int, final: dict) -> dict:
        """The evaluations so far and the final one: ``{"steps": [...], <metric>: [...]}``."""
        from standin.benchmarks.tblog import EVAL_CURVE_TAGS

        rows = [*self.metrics, final]
        return {"steps": [*self.steps, final_step],
                **{key: [m.get(key) for m in rows] for key in EVAL_CURVE_TAGS.values()}}

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


def _random_state(agent) -> list:
    """Everything random an evaluation could advance: torch's and numpy's global generators and
    the numpy and torch Generators held by the agent or by objects it holds (e.g. a teacher), two
    levels deep."""
    import torch

    saved = [(torch.set_rng_state, torch.get_rng_state()), (np.random.set_state, np.random.get_state())]
    seen, stack = set(), [(agent, 2)]
    while stack:
        obj, depth = stack.pop()
        if id(obj) in seen or not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        for value in vars(obj).values():
            if isinstance(value, np.random.Generator):
                saved.append((functools.partial(setattr, value.bit_generator, "state"), value.bit_generator.state))
            elif isinstance(value, torch.Generator):
                saved.append((value.set_state, value.get_state()))
            elif depth > 0 and hasattr(value, "__dict__") and not isinstance(value, torch.nn.Module):
                stack.append((value, depth - 1))
    return saved


def _restore_random_state(saved: list) -> None:
    for restore, state in saved:
        restore(state)


def _run_trial(trial, out_dir: Path | None, horizon: int = 0) -> dict:
    import torch

    from standin import agents, envs
    from standin.benchmarks.tblog import TBLogger, flat_hparams
    from standin.search import log2_size

    torch.set_num_threads(1)
    record = identity(trial)
    tb = None
    limit = getattr(trial, "time_limit", None)
    try:
        if limit is not None:
            _start_alarm(limit)
        record["agent_kind"] = getattr(agents.agent_class(trial.agent), "kind", None)
        env = envs.make(trial.env_id, **trial.env_kwargs)
        record["log2_actions"] = log2_size(env.action_space)
        ref = getattr(env.unwrapped, "reference", None)
        record["reference"] = None if ref is None else {
            "high": ref.high, "high_is_optimum": ref.high_is_optimum, "low": ref.low,
            "per": getattr(ref, "per", "decision"), "high_is_bound": getattr(ref, "high_is_bound", False)}
        agent = agents.make(trial.agent, seed=trial.seed, **trial.agent_config)
        if out_dir is not None:
            run_dir = out_dir / "tb" / trial.run_name
            shutil.rmtree(run_dir, ignore_errors=True)
            tb = TBLogger(run_dir)
        log = _CurveLogger(tb if tb is not None else agents.NullLogger())
        points = eval_points(trial.train_steps if trial.train_steps > 0 else horizon)
        evaluator = _Evaluator(log, agent, trial, points if trial.train_steps > 0 else [])
        t0 = time.perf_counter()
        try:
            agent.fit(env, trial.train_steps, evaluator)
        finally:
            evaluator.close()
        train_seconds = time.perf_counter() - t0 - evaluator.seconds
        if hasattr(agent, "chosen"):  # what the defaults became on this env (a head, a value)
            record["agent_config"] = {**record["agent_config"], **agent.chosen()}
        record["learning_curve"] = log.curve()
        if out_dir is not None and trial.train_steps > 0 and hasattr(agent, "state_dict"):
            from standin.agents import checkpoint, config_dict

            path = out_dir / "checkpoints" / f"{trial.trial_id}.pt"
            checkpoint.save(path, agent, name=trial.agent, config=config_dict(agent.config), seed=trial.seed,
                            env_id=trial.env_id, env_kwargs=trial.env_kwargs)
            record["checkpoint"] = str(path.relative_to(out_dir))
        metrics = evaluate(env, agent, trial.eval_episodes, trial.seed + EVAL_SEED_OFFSET)
        audit = getattr(agent, "audit", None)  # e.g. a filter red-teamed by search, on held-out prompts
        metrics.update(AUDIT_NULLS)
        safety = getattr(getattr(agent, "config", None), "safety_decisions", 0)
        if safety and hasattr(agent, "act_batch"):  # a conservative agent's failure rate on many prompts at once
            from standin.benchmarks.safety import evaluate_at_scale

            metrics.update(evaluate_at_scale(agent, env, safety, trial.seed + EVAL_SEED_OFFSET + 1))
        if audit is not None:
            metrics.update(audit(env, trial.seed + EVAL_SEED_OFFSET + 1))
        teacher = getattr(agent, "teacher", None)  # a distilled student: its teacher on the same contexts
        taught = evaluate(env, teacher, trial.eval_episodes, trial.seed + EVAL_SEED_OFFSET) if teacher else {}
        metrics.update({f"teacher_{key}": taught.get(key) for key in TEACHER_METRICS})
        metrics["agreement_train"] = getattr(agent, "train_agreement", None)
        cost = getattr(agent, "cost", None)  # what training spent (agents.TrainingCost), if the agent says
        if trial.train_steps > 0:
            record["eval_curve"] = evaluator.curve(trial.train_steps, metrics)
        record["adversarial_curve"] = getattr(agent, "adversarial_curve", None)  # filtered's adversarial rounds
        metrics.update(
            train_seconds=train_seconds,
            train_eval_seconds=evaluator.seconds,
            train_budget=trial.train_steps,
            train_env_steps=None if cost is None else cost.env_steps,
            train_gradient_steps=None if cost is None else cost.gradient_steps,
            train_search_evaluations=None if cost is None else cost.search_evaluations,
            train_label_evaluations=None if cost is None else cost.label_evaluations,
            train_overseer_queries=None if cost is None else cost.overseer_queries,
        )
        if tb is not None:
            final_step = points[-1] if points else 0
            tb.finish(flat_hparams(trial), metrics, step=final_step,
                      also_at=[] if trial.train_steps > 0 else points[:-1])
        env.close()
        record.update(status="ok", metrics=metrics)
    except Exception as e:  # recorded, and the suite goes on
        record.update(status="error", error=f"{type(e).__name__}: {e}".splitlines()[0],
                      traceback=traceback.format_exc())
    finally:
        if limit is not None:
            _stop_alarm()
        if tb is not None:
            tb.close()
    record["finished_at"] = now()
    return record


class TrialTimeout(Exception):
    """A trial ran past its ``time_limit``."""


def _start_alarm(seconds: float) -> None:
    """Raise :class:`TrialTimeout` in this (main) thread after ``seconds`` of wall time.

    A worker process runs its trial on its main thread, where SIGALRM is delivered; the handler
    runs between Python bytecodes, so a numba kernel finishes its call (one decision) first."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("time_limit needs the trial to run on its process's main thread")

    def expire(signum, frame):
        raise TrialTimeout(f"the trial ran past its time_limit of {seconds:g} s")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _stop_alarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def identity(trial) -> dict:
    """A record of ``trial`` with what it is and nothing it measured yet (every field present)."""
    return {
        "trial_id": trial.trial_id, "suite": trial.suite, "status": None, "error": None, "traceback": None,
        "env_id": trial.env_id, "env_kwargs": trial.env_kwargs, "env_label": trial.env_label,
        "env_family": trial.env_family, "log2_actions": None, "agent": trial.agent,
        "agent_config": trial.full_config, "agent_label": trial.label, "agent_rank": trial.agent_rank,
        "agent_group": trial.group, "agent_setting": trial.setting, "agent_kind": None, "seed": trial.seed,
        "train_steps": trial.train_steps, "eval_episodes": trial.eval_episodes, "checkpoint": None,
        "time_limit": getattr(trial, "time_limit", None), "learning_curve": None, "eval_curve": None,
        "adversarial_curve": None, "log": None,
        "wall_seconds": None,
    }


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
"""Set to 1 in a worker's environment before it imports numpy: one BLAS/OpenMP/numba thread per trial."""


def error_record(trial, error: str, text: str | None = None) -> dict:
    """The record of a trial whose worker failed as a whole (crashed, killed, lost)."""
    record = identity(trial)
    record.update(status="error", error=error, traceback=text, finished_at=now())
    return record


def cost_hint(trial) -> tuple:
    """A rough ordering of trial cost, for running the longest first: training steps, then
    action-space size."""
    if trial.log2_actions is not None:
        return (trial.train_steps, trial.log2_actions)
    size = sum(v for k, v in trial.env_kwargs.items() if k in trial.size_kwargs and isinstance(v, (int, float)))
    return (trial.train_steps, size)
