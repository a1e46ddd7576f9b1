"""Sampling search methods over a batch evaluator: random shooting, the cross-entropy method, beam search.

These methods see a landscape only through ``evaluate(X) -> values``: ``X`` int8 ``(B, m)`` encodings
(see :mod:`search.spaces`), ``values`` float64 ``(B,)``, larger is better. They call it in batches,
never one action at a time, so ``evaluate`` may be a network forward pass or a vectorised formula.

Shared conventions:

* ``budget`` is the most rows ever passed to ``evaluate``, summed over calls; no method exceeds it.
* ``marks`` are sorted evaluation counts (:func:`search.trace.checkpoints`); the result's ``trace[p]``
  is the best value seen after ``marks[p]`` evaluations, NaN for marks the run did not reach.
* All randomness comes from the ``rng`` passed in: the same seed gives the same result.
* Ties between equal values go to the one evaluated first.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from standin.search.spaces import CHANGE, FLIP, SWAP

#: CEM keeps every allowed probability in ``[P_MIN, 1 - P_MIN]``, so no bit, item or value is ruled
#: out for good after a few unlucky elite sets; masked positions stay at probability 0.
P_MIN = 1e-3


@dataclass(frozen=True, eq=False)
class SamplingResult:
    """The outcome of one search.

    ``x`` int8 ``(m,)`` the best encoding found; ``score`` its value as ``evaluate`` returned it;
    ``evaluations`` rows evaluated (at most the budget); ``trace`` float64 ``(len(marks),)`` the best
    value after each mark (NaN where not reached); ``log_prob`` the proposal's log-probability of ``x``
    when the proposal reported one, else None.
    """

    x: np.ndarray
    score: float
    evaluations: int
    trace: np.ndarray
    log_prob: float | None = None


# ----------------------------------------------------------------------------- encodings and moves


def encode_batch(space, actions) -> np.ndarray:
    """Native actions ``(B, *action_shape)`` as encodings, int8 ``(B, m)``.

    ``Binary``/``KOfN`` actions are 0/1 vectors ``(B, n)``; ``Discrete`` actions are integers ``(B, C)``
    with ``0 <= a[:, c] < nvec[c]``, one-hot encoded per component. Only shape and range are checked
    here; :func:`check_feasible` checks the mask and the space's constraints.
    """
    a = np.asarray(actions)
    if space.kind == CHANGE:
        nvec = np.asarray(space.nvec)
        if a.ndim != 2 or a.shape[1] != len(nvec):
            raise ValueError(f"{space}: actions must have shape (B, {len(nvec)}), got {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{space}: actions must be integers, got dtype {a.dtype}")
        bad = np.flatnonzero(((a < 0) | (a >= nvec)).any(axis=1))
        if bad.size:
            r = int(bad[0])
            raise ValueError(f"{space}: action row {r} = {a[r].tolist()} is out of range 0 <= a[c] < nvec[c]")
        X = np.zeros((a.shape[0], space.m), dtype=np.int8)
        X[np.arange(a.shape[0])[:, None], space.offsets[:-1] + a] = 1
        return X
    if a.ndim != 2 or a.shape[1] != space.m:
        raise ValueError(f"{space}: actions must have shape (B, {space.m}), got {a.shape}")
    bad = np.flatnonzero(((a != 0) & (a != 1)).any(axis=1))
    if bad.size:
        r = int(bad[0])
        raise ValueError(f"{space}: action row {r} has entries other than 0 and 1: {a[r].tolist()}")
    return a.astype(np.int8)


def check_feasible(moves, X) -> None:
    """Raise ValueError naming the first row of ``X`` ``(B, m)`` that is not a feasible action, and why."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != moves.m:
        raise ValueError(f"encodings must have shape (B, {moves.m}), got {X.shape}")
    not01 = ((X != 0) & (X != 1)).any(axis=1)
    masked = (X.astype(bool) & (moves.allowed == 0)).any(axis=1)
    if moves.kind == SWAP:
        wrong_count = X.sum(axis=1) != moves.k
    else:
        wrong_count = np.zeros(len(X), dtype=bool)
    if moves.kind == CHANGE:
        group_ones = np.add.reduceat(X, moves.offsets[:-1], axis=1, dtype=np.int64)
        not_one_hot = (group_ones != 1).any(axis=1)
    else:
        not_one_hot = np.zeros(len(X), dtype=bool)
    bad = np.flatnonzero(not01 | masked | wrong_count | not_one_hot)
    if not bad.size:
        return
    r = int(bad[0])
    if not01[r]:
        why = "entries other than 0 and 1"
    elif masked[r]:
        why = _masked_bit_reason(moves, int(np.flatnonzero(X[r].astype(bool) & (moves.allowed == 0))[0]))
    elif wrong_count[r]:
        why = f"{int(X[r].sum())} ones, expected k = {moves.k}"
    else:
        c = int(np.flatnonzero(group_ones[r] != 1)[0])
        why = f"component {c} is not one-hot ({int(group_ones[r, c])} ones)"
    raise ValueError(f"infeasible encoding in row {r}: {why}")


def _masked_bit_reason(moves, bit) -> str:
    if moves.kind != CHANGE:
        return f"bit {bit} is set but masked"
    c = int(np.searchsorted(moves.offsets, bit, side="right")) - 1
    return f"component {c} takes the masked value {bit - int(moves.offsets[c])}"


def neighbours(moves, x) -> np.ndarray:
    """Every encoding one move away from the feasible encoding ``x`` ``(m,)``: int8 ``(K, m)``.

    FLIP: each allowed bit flipped (K = allowed bits). SWAP: each in-item swapped for each allowed
    out-item (K = k · free out-items). CHANGE: each component set to each other allowed value.
    K may be 0 (a fully fixed mask, k = 0, k = allowed items, one allowed value per component).
    """
    x = np.asarray(x)
    check_feasible(moves, x[None])
    _, off, on = _children(moves, x[None].astype(np.int8))
    return _apply_moves(np.repeat(x[None].astype(np.int8), len(off), axis=0), off, on)


# ----------------------------------------------------------------------------- factored sampling


def _uniform_probs(moves) -> np.ndarray:
    """The factored probabilities ``(m,)`` whose samples are uniform over feasible actions."""
    allowed = moves.allowed.astype(np.float64)
    if moves.kind == FLIP:
        return 0.5 * allowed
    if moves.kind == SWAP:
        return allowed * moves.k / max(allowed.sum(), 1.0)
    return allowed / np.repeat(np.add.reduceat(allowed, moves.offsets[:-1]), np.diff(moves.offsets))


def _sample(moves, p, count, rng) -> np.ndarray:
    """``count`` feasible encodings int8 ``(count, m)`` from the factored distribution ``p`` ``(m,)``.

    FLIP: independent Bernoulli(p) bits. SWAP: Gumbel-top-k over ``log p`` on allowed items (uniform
    k-subsets when ``p`` is constant there). CHANGE: per component, value ``i`` with probability
    proportional to ``p[i]``. Positions with ``p = 0`` are never set.
    """
    if moves.kind == FLIP:
        return (rng.random((count, moves.m)) < p).astype(np.int8)
    if moves.kind == SWAP:
        return _sample_k_subsets(moves, p, count, rng)
    return _sample_categorical(moves.offsets, p, count, rng)


def _sample_k_subsets(moves, p, count, rng) -> np.ndarray:
    X = np.zeros((count, moves.m), dtype=np.int8)
    if moves.k == 0 or count == 0:
        return X
    allowed = moves.allowed.astype(bool)
    log_p = np.log(np.where(allowed, p, 1.0))
    keys = np.where(allowed, log_p + rng.gumbel(size=(count, moves.m)), -np.inf)
    top = np.argpartition(-keys, moves.k - 1, axis=1)[:, : moves.k]
    X[np.arange(count)[:, None], top] = 1
    return X


def _sample_categorical(offsets, p, count, rng) -> np.ndarray:
    """Inverse-CDF sampling of one value per group ``[offsets[c], offsets[c+1])`` of ``p``."""
    starts = offsets[:-1]
    cdf = np.cumsum(p)
    below = np.concatenate([[0.0], cdf])[starts]
    mass = np.add.reduceat(p, starts)
    targets = below + rng.random((count, len(starts))) * mass
    pick = np.searchsorted(cdf, targets, side="right")
    last_positive = np.maximum.reduceat(np.where(p > 0, np.arange(len(p)), -1), starts)
    pick = np.minimum(pick, last_positive)  # rounding in cdf could step just past a group's end
    X = np.zeros((count, len(p)), dtype=np.int8)
    X[np.arange(count)[:, None], pick] = 1
    return X


def sample_uniform(moves, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` independent uniformly random feasible encodings, int8 ``(count, m)``.

    FLIP: fair bits on allowed positions, 0 elsewhere. SWAP: a uniform k-subset of the allowed items.
    CHANGE: per component a uniform allowed value, one-hot.
    """
    return _sample(moves, _uniform_probs(moves), count, rng)


# ----------------------------------------------------------------------------- bookkeeping


class _Run:
    """Counts evaluations against the budget, fills the trace and keeps the best row seen."""

    def __init__(self, evaluate, budget, marks):
        self.evaluate_fn = evaluate
        self.budget = _check_int("budget", budget, 1)
        self.marks = np.asarray(marks, dtype=np.int64)
        if self.marks.ndim != 1 or (np.diff(self.marks) < 0).any():
            raise ValueError(f"marks must be a sorted 1-D array of evaluation counts, got {marks!r}")
        self.trace = np.full(len(self.marks), np.nan)
        self.evaluations = 0
        self.best = -np.inf
        self.best_x = None
        self.best_log_prob = None

    @property
    def left(self) -> int:
        return self.budget - self.evaluations

    def evaluate(self, X, log_probs=None) -> np.ndarray:
        """Values float64 ``(B,)`` of ``X`` ``(B, m)``, recorded against the budget and the trace."""
        if len(X) > self.left:
            raise RuntimeError(f"internal error: {len(X)} evaluations requested with {self.left} left")
        values = np.asarray(self.evaluate_fn(X), dtype=np.float64)
        if values.shape != (len(X),):
            raise ValueError(f"evaluate must return values of shape ({len(X)},) for {len(X)} rows, got {values.shape}")
        if np.isnan(values).any():
            raise ValueError(f"evaluate returned NaN for row {int(np.flatnonzero(np.isnan(values))[0])}")
        self._record(values)
        i = int(np.argmax(values))
        if self.best_x is None or values[i] > self.best:
            self.best, self.best_x = float(values[i]), np.array(X[i], dtype=np.int8)
            self.best_log_prob = None if log_probs is None else float(log_probs[i])
        return values

    def observe(self, values, row_of) -> None:
        """Record values computed elsewhere (from move deltas); ``row_of(k)`` builds row ``k`` when it
        is a new best."""
        if len(values) > self.left:
            raise RuntimeError(f"internal error: {len(values)} evaluations observed with {self.left} left")
        self._record(values)
        i = int(np.argmax(values))
        if self.best_x is None or values[i] > self.best:
            self.best, self.best_x, self.best_log_prob = float(values[i]), np.array(row_of(i), dtype=np.int8), None

    def _record(self, values) -> None:
        start, end = self.evaluations, self.evaluations + len(values)
        running = np.maximum(np.maximum.accumulate(values), self.best)
        lo, hi = np.searchsorted(self.marks, [start, end], side="right")
        self.trace[lo:hi] = running[self.marks[lo:hi] - start - 1]
        self.evaluations = end

    def result(self) -> SamplingResult:
        return SamplingResult(self.best_x, self.best, self.evaluations, self.trace, self.best_log_prob)


def _check_int(name, value, lo) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- random shooting


def random_shooting(evaluate, space, moves, budget, rng, marks, *, proposal=None, batch=1024) -> SamplingResult:
    """Evaluate ``budget`` random feasible actions in batches of ``batch``; keep the best.

    Without ``proposal`` the actions are uniform over the feasible set. With ``proposal``
    (babble-and-prune), ``proposal(count, rng)`` returns native actions ``(count, *action_shape)``, or
    a tuple ``(actions, log_probs)`` with ``log_probs`` ``(count,)``; the actions are encoded and must
    be feasible under ``moves``. The result's ``log_prob`` is that of the best action when reported.
    """
    batch = _check_int("random_shooting: batch", batch, 1)
    run = _Run(evaluate, budget, marks)
    while run.left > 0:
        count = min(batch, run.left)
        if proposal is None:
            run.evaluate(sample_uniform(moves, count, rng))
        else:
            X, log_probs = propose(proposal, space, moves, count, rng)
            run.evaluate(X, log_probs)
    return run.result()


def propose(proposal, space, moves, count, rng):
    """Call ``proposal`` for ``count`` actions; return checked encodings ``(count, m)`` and log-probs or None."""
    out = proposal(count, rng)
    actions, log_probs = out if isinstance(out, tuple) else (out, None)
    actions = np.asarray(actions)
    if actions.ndim < 1 or actions.shape[0] != count:
        raise ValueError(f"proposal was asked for {count} actions and returned an array of shape {actions.shape}")
    try:
        X = encode_batch(space, actions)
        check_feasible(moves, X)
    except ValueError as err:
        raise ValueError(f"proposal returned invalid actions: {err}") from None
    if log_probs is not None:
        log_probs = np.asarray(log_probs, dtype=np.float64)
        if log_probs.shape != (count,):
            raise ValueError(f"proposal's log_probs must have shape ({count},), got {log_probs.shape}")
    return X, log_probs


# ----------------------------------------------------------------------------- cross-entropy method


def cem(
    evaluate, space, moves, budget, rng, marks, *, population=64, elites=6, smoothing=0.7, init_prob=None
) -> SamplingResult:
    """The cross-entropy method over a factored distribution ``p`` ``(m,)`` on the encoding.

    FLIP: a Bernoulli ``p`` per bit. CHANGE: a categorical per component. SWAP: k-subsets drawn by
    Gumbel-top-k over ``log p``, ``p`` the items' inclusion frequencies. Masked positions have
    ``p = 0``. Each iteration samples ``population`` actions (the last one fewer, to end exactly on the
    budget), refits ``p`` to the frequencies in the top ``elites`` and smooths,
    ``p <- smoothing * p_elite + (1 - smoothing) * p``, then clips allowed positions to
    ``[P_MIN, 1 - P_MIN]`` (categoricals renormalised) so nothing is ruled out for good.

    ``init_prob`` (a scalar or ``(m,)``, in ``[0, 1]``) sets the initial ``p``; by default the
    distribution starts uniform over feasible actions. The defaults (64 samples, refit to the top 6)
    follow QT-Opt's CEM.
    ``space`` is not needed here (``moves`` says everything); it keeps the signature common to all methods.
    """
    population = _check_int("cem: population", population, 1)
    elites = _check_int("cem: elites", elites, 1)
    if elites > population:
        raise ValueError(f"cem: elites must be between 1 and population ({population}), got {elites}")
    if not 0.0 < smoothing <= 1.0:
        raise ValueError(f"cem: smoothing must be in (0, 1], got {smoothing!r}")
    run = _Run(evaluate, budget, marks)
    p = _clip(moves, _initial_probs(moves, init_prob))
    while run.left > 0:
        X = _sample(moves, p, min(population, run.left), rng)
        values = run.evaluate(X)
        top = np.argsort(-values, kind="stable")[:elites]
        p = _clip(moves, smoothing * X[top].mean(axis=0) + (1.0 - smoothing) * p)
    return run.result()


def _initial_probs(moves, init_prob) -> np.ndarray:
    if init_prob is None:
        return _uniform_probs(moves)
    p = np.asarray(init_prob, dtype=np.float64)
    if p.ndim == 0:
        p = np.full(moves.m, float(p))
    if p.shape != (moves.m,):
        raise ValueError(f"cem: init_prob must be a scalar or have shape ({moves.m},), got {p.shape}")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("cem: init_prob entries must be probabilities in [0, 1]")
    return p * moves.allowed


def _clip(moves, p) -> np.ndarray:
    """``p`` ``(m,)`` with allowed positions kept in ``[P_MIN, 1 - P_MIN]``, masked ones at 0.

    For CHANGE each component is renormalised to sum to 1 afterwards.
    """
    p = np.clip(p, P_MIN, 1.0 - P_MIN) * moves.allowed
    if moves.kind == CHANGE:
        p = p / np.repeat(np.add.reduceat(p, moves.offsets[:-1]), np.diff(moves.offsets))
    return p


# ----------------------------------------------------------------------------- beam search


#: Beam search skips states chosen in this many previous generations (bounded memory: a global
#: closed set would hold every state ever evaluated, gigabytes at budgets of 10⁷).
BEAM_MEMORY = 4


def beam(evaluate, space, moves, budget, rng, marks, *, width=8, init=None, move_values=None) -> SamplingResult:
    """Beam search over move sequences.

    The first beam is ``init`` (an encoding ``(m,)``) or ``width`` uniform samples, evaluated. Each
    step expands every beam state by all its single moves and evaluates the children as one batch
    (a uniformly random subset of them when they do not fit in the budget left). The best ``width``
    distinct children not chosen in the last :data:`BEAM_MEMORY` generations become the next beam,
    even when all of them are worse than their parents. It stops when the budget is spent or no
    child is left.

    ``move_values(x, off, on) -> values``, when given, evaluates the children of ``x`` from move
    deltas (bits ``off[t]`` and ``on[t]`` changed; ``on[t] = -1`` for a single flip) instead of
    building and evaluating them in full: each still counts as one evaluation. ``space`` is not
    needed here (``moves`` says everything); it keeps the signature common to all methods.
    """
    width = _check_int("beam: width", width, 1)
    run = _Run(evaluate, budget, marks)
    if init is None:
        states = _fresh(sample_uniform(moves, min(width, run.left), rng), set())
    else:
        states = _check_init(moves, init)[None]
    values = run.evaluate(states)
    recent = [{row.tobytes() for row in states}]
    while run.left > 0:
        order = np.argsort(-values, kind="stable")[:width]
        states, values = states[order], values[order]
        parent, off, on = _children(moves, states)
        if len(parent) == 0:
            break
        if len(parent) > run.left:
            pick = np.sort(rng.choice(len(parent), size=run.left, replace=False))
            parent, off, on = parent[pick], off[pick], on[pick]
        if move_values is None:
            rows = _apply_moves(states[parent], off, on)
            child_values = run.evaluate(rows)
        else:
            rows = None
            child_values = np.empty(len(parent))
            for p in np.unique(parent):
                sel = parent == p
                child_values[sel] = move_values(states[p], off[sel], on[sel])
            run.observe(child_values, functools.partial(_child, states, parent, off, on))
        seen = set().union(*recent)
        chosen = []
        for k in np.argsort(-child_values, kind="stable"):
            row = rows[k] if rows is not None else _child(states, parent, off, on, k)
            key = row.tobytes()
            if key not in seen:
                seen.add(key)
                chosen.append((row, child_values[k], key))
                if len(chosen) == width:
                    break
        if not chosen:
            break
        recent = [*recent[-(BEAM_MEMORY - 1) :], {key for _, _, key in chosen}]
        states = np.array([row for row, _, _ in chosen], dtype=np.int8)
        values = np.array([value for _, value, _ in chosen])
    return run.result()


def _children(moves, states):
    """Every single move from each state: ``(parent, off, on)`` int64 arrays, ``on = -1`` for flips."""
    parents, offs, ons = [], [], []
    allowed = moves.allowed.astype(bool)
    for p, x in enumerate(states):
        if moves.kind == FLIP:
            off = np.flatnonzero(allowed)
            on = np.full(len(off), -1)
        elif moves.kind == SWAP:
            ins = np.flatnonzero(x == 1)
            outs = np.flatnonzero((x == 0) & allowed)
            off, on = (a.reshape(-1) for a in np.meshgrid(ins, outs, indexing="ij"))
        else:
            on = np.flatnonzero((x == 0) & allowed)
            off = np.flatnonzero(x == 1)[np.searchsorted(moves.offsets, on, side="right") - 1]
        parents.append(np.full(len(off), p))
        offs.append(off)
        ons.append(on)
    cat = lambda parts: np.concatenate(parts).astype(np.int64)  # noqa: E731
    return cat(parents), cat(offs), cat(ons)


def _child(states, parent, off, on, k) -> np.ndarray:
    """Child ``k``: its parent state with move ``k`` applied."""
    return _apply_moves(states[parent[k : k + 1]], off[k : k + 1], on[k : k + 1])[0]


def _apply_moves(X, off, on) -> np.ndarray:
    """Copies of the rows of ``X`` ``(B, m)`` with bit ``off[b]`` flipped, and ``on[b]`` too where ≥ 0."""
    out = np.array(X, dtype=np.int8, copy=True)
    rows = np.arange(len(out))
    out[rows, off] ^= 1
    two = on >= 0
    out[rows[two], on[two]] ^= 1
    return out


def _fresh(X, visited) -> np.ndarray:
    """The rows of ``X`` ``(B, m)`` not in ``visited`` (a set of ``row.tobytes()``), first copies only."""
    seen = set(visited)
    keep = []
    for i, row in enumerate(X):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return X[keep]


def _check_init(moves, init) -> np.ndarray:
    x = np.asarray(init)
    if x.shape != (moves.m,):
        raise ValueError(f"beam: init must be an encoding of shape ({moves.m},), got {x.shape}")
    try:
        check_feasible(moves, x[None])
    except ValueError as err:
        raise ValueError(f"beam: init is not feasible: {err}") from None
    return x.astype(np.int8)


__all__ = [
    "BEAM_MEMORY",
    "P_MIN",
    "SamplingResult",
    "beam",
    "cem",
    "check_feasible",
    "encode_batch",
    "neighbours",
    "random_shooting",
    "sample_uniform",
]
