"""``maximize``: one entry point for every search method."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from search._jit import rng_state
from search.anneal import anneal
from search.exhaustive import MAX_BITS, exhaustive
from search.landscapes import Quadratic
from search.shooting import random_shooting
from search.spaces import as_space
from search.trace import checkpoints


@dataclass(frozen=True, eq=False)
class SearchResult:
    """What one call of :func:`maximize` found.

    Attributes:
        action: the best action found, int8 ``(n,)``.
        score: its landscape value.
        evaluations: landscape evaluations used (a full evaluation or a single-move delta each);
            never above the budget.
        seconds: wall time of the search.
        trace: ``(evaluations, best_score)``, two arrays of equal length: the best score found
            once that many evaluations had been used, at log-spaced points.
        method: the method's name.
    """

    action: np.ndarray
    score: float
    evaluations: int
    seconds: float
    trace: tuple[np.ndarray, np.ndarray]
    method: str


METHODS = ("exhaustive", "random", "anneal")


def maximize(landscape, space, method: str, budget: int | None, *, seed: int, init=None, **opts) -> SearchResult:
    """Search ``space`` for the action that maximises ``landscape``, within ``budget`` evaluations.

    Args:
        landscape: a :class:`~search.Quadratic`.
        space: the action space (a Gymnasium ``MultiBinary`` or :class:`~search.Binary`).
        method: one of ``"exhaustive"`` (all ``2^n`` actions, ``n ≤ 24``; ``budget`` may be None),
            ``"random"`` (random shooting), ``"anneal"`` (simulated annealing).
        budget: maximum number of landscape evaluations.
        seed: seeds the method's own generator; the same seed gives the same result.
        init: optional starting action for ``anneal``.
        **opts: method options (``anneal``: ``restarts``, ``t_hot``, ``t_cold``).
    """
    sp = as_space(space)
    if not isinstance(landscape, Quadratic):
        raise ValueError(f"maximize: unsupported landscape type {type(landscape).__name__}; supported: Quadratic")
    if landscape.n != sp.n:
        raise ValueError(f"maximize: landscape has {landscape.n} variables but the space has {sp.n}")
    if method not in METHODS:
        raise ValueError(f"maximize: unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "exhaustive":
        if sp.n > MAX_BITS:
            raise ValueError(
                f"maximize: exhaustive search enumerates 2^n actions and refuses n > {MAX_BITS}; got n = {sp.n}. "
                "Use method='anneal' or 'random' for larger spaces."
            )
        need = 1 << sp.n
        if budget is not None and budget < need:
            raise ValueError(f"maximize: exhaustive needs budget >= 2^{sp.n} = {need}, got {budget}")
        budget = need  # it uses exactly 2^n evaluations
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"maximize: budget must be a positive integer, got {budget!r}")
    budget = int(budget)
    allowed = {"anneal": {"restarts", "t_hot", "t_cold"}}.get(method, set())
    unknown = set(opts) - allowed
    if unknown:
        raise ValueError(
            f"maximize: unknown option(s) {sorted(unknown)} for method {method!r}; allowed: {sorted(allowed) or 'none'}"
        )
    if init is not None:
        if method != "anneal":
            raise ValueError(f"maximize: init is only used by 'anneal', not {method!r}")
        init = np.asarray(init)
        if init.shape != (sp.n,) or not np.isin(init, (0, 1)).all():
            raise ValueError(f"maximize: init must be a 0/1 vector of shape ({sp.n},)")
        init = init.astype(np.int8)

    state = rng_state(seed)
    marks = checkpoints(budget)
    trace = np.full(marks.shape[0], np.nan)
    start = time.perf_counter()
    if method == "exhaustive":
        action, score, evals = exhaustive(landscape, sp.n, marks, trace)
    elif method == "random":
        action, score, evals = random_shooting(landscape, budget, state, marks, trace)
    else:
        action, score, evals = anneal(landscape, budget, state, marks, trace, init=init, **opts)
    seconds = time.perf_counter() - start
    reached = marks <= evals
    return SearchResult(
        action=action,
        score=float(score),
        evaluations=int(evals),
        seconds=seconds,
        trace=(marks[reached], trace[reached]),
        method=method,
    )


def warmup() -> None:
    """Compile (or load from cache) every kernel on a tiny problem, so timed decisions exclude JIT."""
    tiny = Quadratic(0.0, np.zeros(2), np.zeros((2, 2)))
    for method in METHODS:
        maximize(tiny, 2, method, 4, seed=0)
