"""``maximize``: one entry point for every search method; ``maximize_batch`` for many states."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from standin.search import sampling
from standin.search.anneal import NO_WALK, anneal, anneal_batch, walk_steps
from standin.search.exhaustive import MAX_CANDIDATES, exhaustive
from standin.search.greedy import greedy, greedy_batch
from standin.search.jit import derive_seed, derive_states, rng_state
from standin.search.landscapes import (
    JITTED,
    LANDSCAPES,
    Batch,
    Quadratic,
    evaluator,
    move_evaluator,
    slice_batch,
    stack_kernel_data,
)
from standin.search.moves import MoveState, move_state
from standin.search.spaces import CHANGE, FLIP, as_space
from standin.search.stacks import STACKS
from standin.search.tabu import default_patience, default_tenure, tabu, tabu_batch
from standin.search.trace import checkpoints


@dataclass(frozen=True, eq=False)
class SearchResult:
    """What one call of :func:`maximize` found.

    Attributes:
        action: the best action found, in the space's own form (0/1 int8 ``(n,)`` for binary and
            k-of-N spaces, int64 ``(C,)`` for MultiDiscrete).
        score: its landscape value.
        evaluations: landscape evaluations used (a full evaluation or a move delta each); never
            above the budget.
        seconds: wall time of the search.
        trace: ``(evaluations, best_score)``, two arrays of equal length: the best score found
            once that many evaluations had been used, at log-spaced points.
        method: the method's name.
        info: method-specific extras: ``exact`` gives ``proven``, ``bound``, ``gap``, ``solver``;
            ``random`` with a proposal that returns log-probs gives ``log_prob`` of the action.
    """

    action: np.ndarray
    score: float
    evaluations: int
    seconds: float
    trace: tuple[np.ndarray, np.ndarray]
    method: str
    info: dict = field(default_factory=dict)

    @classmethod
    def _of(cls, action, score, evaluations, seconds, trace, method, info) -> SearchResult:
        """The frozen dataclass's ``__init__`` without its per-field ``object.__setattr__`` (1.4 µs a
        search): for :func:`maximize`, whose arguments are already of the declared types."""
        result = object.__new__(cls)
        result.__dict__.update(action=action, score=score, evaluations=evaluations, seconds=seconds, trace=trace,
                               method=method, info=info)
        return result


#: Method name → the options it accepts.
OPTIONS = {
    "exhaustive": (),
    "random": ("batch",),
    "greedy": ("improvement",),
    "anneal": ("restarts", "t_hot", "t_cold", "order"),
    "tabu": ("tenure", "restarts", "patience"),
    "cem": ("population", "elites", "smoothing"),
    "beam": ("width",),
    "exact": ("time_limit",),
}
METHODS = tuple(OPTIONS)
#: Methods that work on any landscape, including a :class:`~search.Batch` callable.
SAMPLING = ("random", "cem", "beam")


def method_options(method: str, **opts) -> dict:
    """The options among ``opts`` that ``method`` takes (:data:`OPTIONS`): for a caller that sets
    one option for whichever method is configured, e.g. ``restarts``, which only anneal and tabu
    take. Options given as None are left out (the method's default)."""
    if method not in OPTIONS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    return {name: value for name, value in opts.items() if name in OPTIONS[method] and value is not None}


def maximize(
    landscape, space, method: str, budget: int | None, *, seed: int, proposal=None, init=None, mask=None, **opts
) -> SearchResult:
    """Search ``space`` for the action that maximises ``landscape``, within ``budget`` evaluations.

    Args:
        landscape: a :class:`~search.Quadratic`, :class:`~search.MLP`, :class:`~search.Objective`
            or :class:`~search.Batch` over the space's binary encoding.
        space: the environment's action space: Gymnasium ``MultiBinary(n)``, a k-of-N
            ``MultiBinary`` (with attribute ``k``), ``MultiDiscrete(nvec)``, or a search space.
        method: ``exhaustive`` (every action; at most 2^32, ``budget`` may be None), ``random``
            (random shooting, or babble-and-prune with ``proposal``), ``greedy`` (hill climbing with
            restarts), ``anneal`` (simulated annealing), ``tabu``, ``cem`` (cross-entropy method),
            ``beam`` (beam search over moves), ``exact`` (certified optimum of a Quadratic; needs
            ``standin[exact]``; ``budget`` is ignored, the limit is ``time_limit`` seconds).
        budget: maximum number of landscape evaluations.
        seed: seeds the method's own generators; the same seed gives the same result.
        proposal: ``proposal(count, rng) -> actions`` or ``(actions, log_probs)``, actions in the
            space's own form. ``random`` evaluates its samples instead of uniform ones; ``greedy``,
            ``anneal`` and ``tabu`` start their restarts from them.
        init: a starting action for ``greedy``, ``anneal``, ``tabu`` (every restart) or ``beam``; for
            ``exact``, a feasible incumbent (the result is never worse).
        mask: which encoding bits may be set (see :mod:`search.spaces`), e.g. ``info["action_mask"]``.
        **opts: method options; see :data:`OPTIONS` and each method's module.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"maximize: seed must be an integer, got {seed!r}")
    seed = int(seed) & (2**64 - 1)  # any integer; the numpy and xoshiro generators both take this
    sp = as_space(space)
    if not isinstance(landscape, LANDSCAPES):
        names = ", ".join(c.__name__ for c in LANDSCAPES)
        raise ValueError(f"maximize: unsupported landscape type {type(landscape).__name__}; supported: {names}")
    if landscape.m != sp.m:
        raise ValueError(
            f"maximize: the landscape has {landscape.m} variables but the space {sp} encodes to {sp.m}"
        )
    if method not in OPTIONS:
        raise ValueError(f"maximize: unknown method {method!r}; choose from {', '.join(METHODS)}")
    unknown = set(opts) - set(OPTIONS[method]) if opts else ()
    if unknown:
        allowed = ", ".join(OPTIONS[method]) or "none"
        raise ValueError(f"maximize: unknown option(s) {sorted(unknown)} for method {method!r}; allowed: {allowed}")
    if isinstance(landscape, Batch) and method not in SAMPLING:
        raise ValueError(f"maximize: a Batch landscape can only be searched by {', '.join(SAMPLING)}, not {method!r}")
    if method == "exact" and not isinstance(landscape, Quadratic):
        raise ValueError(f"maximize: 'exact' needs a Quadratic landscape, got {type(landscape).__name__}")
    moves = sp.moves(mask)
    if method == "exhaustive":
        count = sp.count(moves.allowed)
        if count > MAX_CANDIDATES:
            raise ValueError(
                f"maximize: exhaustive search would enumerate {count} actions, more than 2^32; "
                "use 'exact', 'anneal' or another method"
            )
        if budget is not None and budget < count:
            raise ValueError(f"maximize: exhaustive needs budget >= {count} (every feasible action), got {budget}")
        budget = count
    elif method == "exact":
        budget = 1
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"maximize: budget must be a positive integer, got {budget!r}")
    budget = int(budget)
    if init is not None:
        if method not in ("greedy", "anneal", "tabu", "beam", "exact"):
            raise ValueError(f"maximize: init is used by greedy, anneal, tabu, beam and exact, not {method!r}")
        init = sp.encode(init)
        if not sp.feasible(init, moves.allowed):
            raise ValueError("maximize: init sets a masked component")
    if proposal is not None and method not in ("random", "greedy", "anneal", "tabu"):
        raise ValueError(f"maximize: proposal is used by random, greedy, anneal and tabu, not {method!r}")
    if proposal is not None and not callable(proposal):
        raise ValueError("maximize: proposal must be callable as proposal(count, rng)")

    marks = checkpoints(budget)
    trace = np.empty(marks.shape[0])
    trace.fill(np.nan)  # (np.full took 1 µs)
    info: dict = {}
    start = time.perf_counter()
    if method == "exact":
        x, score, evals = _exact(landscape, moves, init, info, **opts)
        trace[:] = score
    elif method in SAMPLING:
        x, score, evals, trace = _sampling(
            landscape, sp, moves, method, budget, seed, marks, proposal, init, info, opts
        )
    else:
        x, score, evals = _local(landscape, sp, moves, method, budget, seed, marks, trace, proposal, init, opts)
    seconds = time.perf_counter() - start
    evals = int(evals)
    if evals >= marks[-1]:  # every checkpoint reached (the usual case): no boolean indexing
        traced = (marks.copy(), trace)
    else:
        reached = marks <= evals
        traced = (marks[reached], trace[reached])
    # the local searches' best state is a fresh int8 buffer: a binary or k-of-N action needs no copy
    action = x if method in _OWN_BUFFER and sp.kind != CHANGE else sp.decode(x)
    return SearchResult._of(action, float(score), evals, seconds, traced, method, info)


_OWN_BUFFER = ("greedy", "anneal", "tabu", "exhaustive")
"""Methods whose result is a buffer of their own (``search.moves.buffers``), never the caller's."""


def _starts(sp, moves, proposal, init, count, seed) -> np.ndarray:
    """Start states ``(S, m)`` for local search: ``init``, proposal samples, or none (random)."""
    if init is not None:
        return init[None, :].copy()
    if proposal is None:
        return _no_starts(sp.m)
    X, _ = sampling.propose(proposal, sp, moves, count, np.random.default_rng(seed))
    return np.require(X, np.int8, ["C", "A", "W"])  # the types the kernels' keyed calls vouch for


@functools.lru_cache(maxsize=64)
def _no_starts(m: int) -> np.ndarray:
    """An empty ``(0, m)`` start set (shared: kernels never write it)."""
    return np.zeros((0, m), dtype=np.int8)


def _local(landscape, sp, moves, method, budget, seed, marks, trace, proposal, init, opts):
    rng = rng_state(seed)
    if method == "exhaustive":
        return exhaustive(landscape, moves, marks, trace)
    restarts = opts.get("restarts", 1)
    count = 64 if method == "greedy" else (restarts if isinstance(restarts, int) and restarts > 0 else 1)
    starts = _starts(sp, moves, proposal, init, count, seed)
    if method == "greedy":
        return greedy(landscape, moves, budget, rng, marks, trace, starts, **opts)
    if method == "anneal":
        return anneal(landscape, moves, budget, rng, marks, trace, starts, **opts)
    return tabu(landscape, moves, budget, rng, marks, trace, starts, **opts)


def _sampling(landscape, sp, moves, method, budget, seed, marks, proposal, init, info, opts):
    evaluate = evaluator(landscape)
    rng = np.random.default_rng(seed)
    if method == "random":
        res = sampling.random_shooting(evaluate, sp, moves, budget, rng, marks, proposal=proposal, **opts)
        if res.log_prob is not None:
            info["log_prob"] = res.log_prob
    elif method == "cem":
        res = sampling.cem(evaluate, sp, moves, budget, rng, marks, **opts)
    else:
        res = sampling.beam(
            evaluate, sp, moves, budget, rng, marks, init=init, move_values=move_evaluator(landscape), **opts
        )
    score = res.score
    if isinstance(landscape, JITTED):  # report the exact value, like the kernels do
        score = float(evaluate(res.x[None, :])[0])
    return res.x, score, res.evaluations, res.trace


def _exact(landscape, moves, init, info, *, time_limit=60.0):
    from standin.search.exact import solve_quadratic

    dense = landscape.dense()
    sol = solve_quadratic(dense.c, dense.h, dense.J, moves, time_limit=time_limit, start=init)
    info.update(proven=sol.proven, bound=sol.bound, gap=sol.gap, solver=sol.solver)
    return sol.x, sol.value, 1


#: :func:`maximize_batch` uses threads by default from this budget on (see its docstring).
PARALLEL_BUDGET = 10_000


def maximize_batch(
    landscapes, space, method: str, budget: int | None, *, seed: int, masks=None, workers: int | None = None, **opts
) -> BatchResult:
    """:func:`maximize` over many landscapes (one per state), as one batch.

    Landscape ``b`` is searched with its own seed, derived from ``(seed, b)``; the results are those
    of ``maximize(landscapes[b], ..., seed=derive_seed(seed, b))``, bit for bit, however the batch is
    run:

    - **fused**: Quadratics of one storage form and size, or MLPs of one shape, searched by
      ``anneal``, ``greedy`` or ``tabu`` under one mask (or none) and without ``init`` or
      ``proposal``, go to the kernel stacked, in one call per thread: no per-search cost in Python.
      A list of landscapes is copied into stacked arrays first; a :class:`~search.QuadraticStack` or
      :class:`~search.MLPStack` (what a value network exports for a batch of states) already is one.
    - otherwise one :func:`maximize` per landscape, each spending its fixed cost in Python.

    The kernels release the GIL, so both run on ``workers`` threads, each taking a contiguous chunk.
    Threads pay only for longer searches (with 2 threads on 2 cores, 1.46× at 20 000 anneal
    evaluations at n = 64, but 0.5× at 1 000 when each search paid its fixed cost): the default is
    the CPU count from a budget of :data:`PARALLEL_BUDGET`, else one thread.

    Args:
        landscapes: a sequence of landscapes over ``space``, or a stack (:mod:`search.stacks`).
        masks: None, or one mask per landscape.
        workers: threads to use.
        **opts: passed to :func:`maximize` (method options, ``proposal``, ``init``).

    Returns:
        a :class:`BatchResult`: a sequence of :class:`SearchResult`, with the scores and evaluations
        also as arrays.
    """
    if not isinstance(landscapes, STACKS):  # a stack stays stacked: its landscapes are built on demand
        landscapes = list(landscapes)
    if masks is not None and len(masks) != len(landscapes):
        raise ValueError(f"maximize_batch: got {len(masks)} masks for {len(landscapes)} landscapes")
    if workers is None:
        workers = (os.cpu_count() or 1) if budget is None or budget >= PARALLEL_BUDGET else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"maximize_batch: workers must be a positive integer, got {workers!r}")
    if not landscapes:
        return BatchResult.of([], space)
    fused = _fused_batch(landscapes, space, method, budget, seed, masks, workers, opts)
    if fused is not None:
        return fused
    results: list = [None] * len(landscapes)

    def run(indices):
        for b in indices:
            mask = None if masks is None else masks[b]
            results[b] = maximize(landscapes[b], space, method, budget, seed=derive_seed(seed, b), mask=mask, **opts)

    run([0])  # checks the arguments, and compiles (or loads) the kernel once before threads race for it
    chunks = [c for c in np.array_split(np.arange(1, len(landscapes)), workers) if c.size]
    if len(chunks) <= 1:
        run(range(1, len(landscapes)))
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            list(pool.map(run, chunks))
    return BatchResult.of(results, space)


class BatchResult(Sequence):
    """What :func:`maximize_batch` found: ``result[b]`` is landscape ``b``'s :class:`SearchResult`.

    Attributes:
        scores: float64 ``(B,)``, each search's best score.
        evaluations: int64 ``(B,)``, each search's evaluations.
        seconds: wall time of the whole batch.
    """

    def __init__(self, space, encodings, scores, evaluations, seconds, marks, traces, method, results=None):
        self._space, self._encodings = space, encodings
        self.scores, self.evaluations, self.seconds = scores, evaluations, seconds
        self._marks, self._traces, self._method = marks, traces, method
        self._results = results

    @classmethod
    def of(cls, results: list, space) -> BatchResult:
        scores = np.array([r.score for r in results], dtype=np.float64)
        evaluations = np.array([r.evaluations for r in results], dtype=np.int64)
        seconds = float(sum(r.seconds for r in results))
        return cls(space, None, scores, evaluations, seconds, None, None, None, results=list(results))

    def __len__(self) -> int:
        return self.scores.shape[0]

    def __eq__(self, other) -> bool:  # as the list of results it stands for
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None

    def __getitem__(self, b):
        if isinstance(b, slice):
            return [self[i] for i in range(*b.indices(len(self)))]
        if self._results is not None:
            return self._results[b]
        b = range(len(self))[b]
        reached = self._marks <= self.evaluations[b]
        return SearchResult(
            action=self._space.decode(self._encodings[b]), score=float(self.scores[b]),
            evaluations=int(self.evaluations[b]), seconds=self.seconds / len(self),
            trace=(self._marks[reached], self._traces[b][reached]), method=self._method,
        )


def _fused_batch(landscapes, space, method, budget, seed, masks, workers, opts):
    """:func:`maximize_batch`'s fused path, or None where it doesn't apply (see there)."""
    if method not in ("anneal", "greedy", "tabu") or "proposal" in opts or "init" in opts:
        return None
    if masks is not None and any(not np.array_equal(np.asarray(masks[0]), np.asarray(mk)) for mk in masks[1:]):
        return None
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        return None  # maximize reports the error
    if method == "anneal" and (opts.get("t_hot") is None) != (opts.get("t_cold") is None):
        return None
    restarts = opts.get("restarts", 1)
    if method == "anneal" and opts.get("t_hot") is None and isinstance(budget, (int, np.integer)) \
            and isinstance(restarts, (int, np.integer)) and not walk_steps(int(budget), int(restarts)):
        return None  # too small for a walk: the range comes from each landscape's coefficients
    stacked = stack_kernel_data(landscapes)
    if stacked is None:
        return None
    # the first search goes through maximize: it checks every argument, and its result is landscape 0's
    first = maximize(landscapes[0], space, method, budget, seed=derive_seed(seed, 0),
                     mask=None if masks is None else masks[0], **opts)
    sp = as_space(space)
    moves = sp.moves(None if masks is None else masks[0])
    budget = int(budget)
    BD, key = stacked
    count = len(landscapes)
    marks = checkpoints(budget)
    encodings = np.zeros((count, sp.m), dtype=np.int8)
    encodings[0] = sp.encode(first.action)
    traces = np.full((count, marks.shape[0]), np.nan)
    traces[0, : first.trace[1].shape[0]] = first.trace[1]
    scores = np.empty(count)
    evaluations = np.empty(count, dtype=np.int64)
    scores[0], evaluations[0] = first.score, first.evaluations
    rngs = derive_states(seed, count)
    start = time.perf_counter()
    chunks = [c for c in np.array_split(np.arange(1, count), workers) if c.size]

    def run(chunk):
        lo, hi = int(chunk[0]), int(chunk[-1]) + 1
        _run_fused(method, slice_batch(BD, lo, hi), key, landscapes[0], moves, budget, opts, encodings[lo:hi],
                   rngs[lo:hi], marks, traces[lo:hi], scores[lo:hi], evaluations[lo:hi])

    if len(chunks) <= 1:
        for chunk in chunks:
            run(chunk)
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            list(pool.map(run, chunks))
    seconds = first.seconds + time.perf_counter() - start
    return BatchResult(sp, encodings, scores, evaluations, seconds, marks, traces, method)


def _run_fused(method, BD, key, template, moves, budget, opts, best_X, rngs, marks, traces, scores, used):
    """One fused kernel call over the stacked landscapes ``BD`` (buffers of its own: one per thread)."""
    aux = template.kernel_aux()
    S0 = move_state(moves)
    S = MoveState(*(a.copy() for a in S0))
    x = np.zeros(moves.m, dtype=np.int8)
    starts = _no_starts(moves.m)
    if method == "anneal":
        restarts = int(opts.get("restarts", 1))
        order = opts.get("order") or ("sweep" if moves.kind == FLIP else "random")
        if opts.get("t_hot") is None:
            seen, t_hot, t_cold = np.empty(walk_steps(budget, restarts)), 1.0, 1.0
        else:
            seen, t_hot, t_cold = NO_WALK, float(opts["t_hot"]), float(opts["t_cold"])
        anneal_batch.keyed(key, BD, moves, aux, S, S0, x, best_X, budget, restarts, t_hot, t_cold,
                            order == "sweep", starts, rngs, marks, traces, 0, seen, scores, used)
    elif method == "greedy":
        first = opts.get("improvement", "first") == "first"
        greedy_batch.keyed(key, BD, moves, aux, S, S0, x, best_X, budget, first, starts, rngs, marks, traces,
                            scores, used)
    else:
        restarts = int(opts.get("restarts", 1))
        tenure = default_tenure(moves) if opts.get("tenure") is None else int(opts["tenure"])
        patience = default_patience(moves) if opts.get("patience") is None else int(opts["patience"])
        until = np.zeros(moves.m, dtype=np.int64)
        tabu_batch.keyed(key, BD, moves, aux, S, S0, x, best_X, until, budget, tenure, restarts, patience,
                          starts, rngs, marks, traces, scores, used)


def warmup(landscape=None, space=None, methods=("exhaustive", "random", "greedy", "anneal", "tabu")) -> None:
    """Compile (or load from the disk cache) the kernels that a timed search will use.

    With a ``landscape`` and ``space``: for that landscape's form and that space's move set.
    Without: for both forms of :class:`~search.Quadratic` on binary spaces.
    """
    if landscape is None:
        dense = Quadratic(0.0, np.zeros(2), np.zeros((2, 2)))
        low_rank = Quadratic.low_rank(0.0, np.zeros(2), np.zeros((2, 1)), [1.0])
        for q in (dense, low_rank):
            warmup(q, 2, methods)
        return
    sp = as_space(space)
    for method in methods:
        if method == "exhaustive" and sp.count(sp.allowed()) > 64:
            continue
        # 64 evaluations: enough to reach every code path (anneal's sampled temperature range too)
        maximize(landscape, sp, method, 64 if method != "exhaustive" else None, seed=0)


__all__ = ["METHODS", "OPTIONS", "SAMPLING", "BatchResult", "SearchResult", "maximize", "maximize_batch",
           "method_options", "warmup"]
