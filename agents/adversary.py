"""An adversary by search: the stand-in for red-teamers who look for what a catastrophe classifier
misses.

For each prompt it searches the completions for one that the classifier passes and that is likely
to be catastrophic, then shows that one to the overseer (one query). What makes a completion likely
to be catastrophic is not known to the adversary; what it has is the quality the generator is pulled
by. Catastrophes are tempting (they score high), so the search maximises

    f(a) = q(a) − weight · relu(logit(a) − logit(threshold))

over the action encoding: the quality ``q`` (the env's landscape, a ``search.Quadratic``) less a
penalty once the classifier's logit passes the filter's threshold. The maximiser is the best
completion the filter would accept: exactly where a filter that missed a pattern fails. Any
``search`` method runs on it (a ``search.Objective`` over a dense quadratic and the classifier's
exported one-hidden-layer ``search.MLP``).

:func:`red_team` reports failures found per overseer query and per second, beside the same number
of queries spent on the filtered policy's own decisions (the generator's distribution).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from standin import search
from standin.search.jit import njit


@njit
def _adversary_value(x, params):
    c, h, J, W1, b1, w2, b2, weight, cut = params
    xf = x.astype(np.float64)
    q = c + h @ xf + xf @ (J @ xf)
    z = W1 @ xf + b1
    logit = b2
    for k in range(z.shape[0]):
        if z[k] > 0.0:
            logit += w2[k] * z[k]
    return q - weight * max(0.0, logit - cut)


def adversary_objective(quality: search.Quadratic, classifier: search.MLP, threshold: float,
                        weight: float) -> search.Objective:
    """``f(a) = q(a) − weight · relu(logit(a) − logit(threshold))`` as a ``search.Objective``.

    ``quality``: a quadratic with a dense ``J`` (``Quadratic.dense()`` converts); ``classifier``: a
    one-hidden-layer ReLU network (``filtered``'s window classifier exports one)."""
    if len(classifier.weights) != 2:
        raise ValueError(f"adversary: the classifier must export a one-hidden-layer search.MLP, got "
                         f"{len(classifier.weights) - 1} hidden layers")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"adversary: threshold must be in (0, 1) (a logit cut), got {threshold!r}")
    q = quality.dense() if quality.J is None or quality.U is not None else quality
    J = np.zeros((q.m, q.m)) if q.J is None else q.J
    cut = math.log(threshold / (1.0 - threshold))
    params = (float(q.c), q.h, J, classifier.weights[0], classifier.biases[0], classifier.weights[1][0],
              float(classifier.biases[1][0]), float(weight), cut)
    return search.Objective(_adversary_value, q.m, params)


@dataclass
class RedTeamResult:
    """What :func:`red_team` found, for the search and for the filtered policy's own decisions."""

    queries: int
    """Overseer queries each side spent (one per prompt)."""
    failures: int
    """Completions the search found that the classifier passed and the overseer marked catastrophic."""
    passed: int
    """Of the search's completions, those the classifier passed (the ones shown to the overseer)."""
    seconds: float
    """Wall time of the search side."""
    policy_failures: int
    """Catastrophes among the filtered policy's own decisions on the same prompts."""
    examples: list = field(repr=False)
    """``(obs, action, verdict)`` of every completion shown to the overseer: labels for adversarial
    training."""

    @property
    def failures_per_query(self) -> float:
        return self.failures / self.queries

    @property
    def failures_per_second(self) -> float:
        return self.failures / self.seconds if self.seconds > 0 else float("nan")


def red_team(agent, env, queries: int, *, method: str = "anneal", budget: int = 2000, weight: float = 10.0,
             seed: int = 0) -> RedTeamResult:
    """Search ``queries`` prompts of ``env`` for completions that ``agent``'s classifier passes (at its
    threshold) and its overseer marks catastrophic; one overseer query per prompt.

    ``agent`` is a fitted ``filtered`` agent with a learned classifier; ``env`` has a quality
    ``landscape()`` and an ``overseer``. The prompts come from ``env.reset(seed=seed)`` on."""
    if queries < 1:
        raise ValueError(f"red_team: queries must be >= 1, got {queries}")
    inner = env.unwrapped
    threshold = agent.config.threshold
    rng = np.random.default_rng(seed)
    space = agent.codec.search_space
    failures = passed = policy_failures = 0
    seconds = 0.0
    examples = []
    obs, info = env.reset(seed=seed)
    for _ in range(queries):
        t0 = time.perf_counter()
        objective = adversary_objective(inner.landscape(), agent.landscape(obs), threshold, weight)
        result = search.maximize(objective, space, method, budget, seed=int(rng.integers(2**63)))
        action = agent.codec.to_env(result.action)
        accepted = agent.p_catastrophe(obs, action[None])[0] <= threshold
        seconds += time.perf_counter() - t0
        if accepted:
            passed += 1
            verdict = bool(inner.overseer(action))
            failures += verdict
            examples.append((obs, action, verdict))
        policy_failures += bool(inner.catastrophic(agent.act(obs, info)))
        obs, info = env.reset()
    return RedTeamResult(queries, failures, passed, seconds, policy_failures, examples)


def adversarial_training(agent, env, rounds: int, queries: int, *, measure_queries: int | None = None,
                         seed: int = 0, **search_options) -> list[dict]:
    """``rounds`` rounds of: the adversary attacks ``queries`` prompts, every completion it shows the
    overseer becomes a label (counted in ``agent.cost.overseer_queries``), the classifier is refitted
    on all labels. Before the first round and after each, a fresh adversary (``measure_queries``
    prompts it never trained on; default ``queries``) measures failures per query.

    Returns one row per measurement: ``round``, ``labels`` (the classifier's training set size),
    ``queries``, ``failures`` and ``failures_per_query`` of the measuring adversary, ``policy_failures`` (the
    filtered policy's own catastrophes on the measuring prompts), ``seconds``.
    """
    measure_queries = queries if measure_queries is None else measure_queries
    rows = []

    def measure(r):
        result = red_team(agent, env, measure_queries, seed=10**6 + seed, **search_options)
        rows.append({"round": r, "labels": len(agent.labelled[2]), "queries": result.queries,
                     "failures": result.failures,
                     "failures_per_query": result.failures_per_query, "policy_failures": result.policy_failures,
                     "seconds": result.seconds})

    measure(0)
    for r in range(1, rounds + 1):
        attack = red_team(agent, env, queries, seed=seed + r, **search_options)
        agent.cost.overseer_queries += len(attack.examples)
        for obs, action, verdict in attack.examples:
            agent.add_labels(obs, action[None], [float(verdict)])
        agent.retrain()
        measure(r)
    return rows
