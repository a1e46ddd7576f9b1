"""Move sets for the kernels: random feasible states, random moves, neighbourhood enumeration.

A move is a pair of encoding bits ``(i, j)``: flip ``i`` and, when ``j ≥ 0``, ``j`` too. For
``SWAP`` and ``CHANGE`` moves ``i`` is the bit that turns off and ``j`` the bit that turns on.

Kernels keep a *move state* ``S`` next to ``x``: a :data:`MoveState` of int64 arrays, allocated by
:func:`move_state` and reset for a new ``x`` by :func:`mv_reset`. Each field has one meaning; the
fields a kind of move set (``M.kind``, see :data:`search.spaces.Moves`) doesn't use are empty:

- ``allowed``: the positions that may be 1, ascending (``FLIP``: the bits that may flip, shared and
  never written; ``SWAP``: a copy, permuted in place to draw random states; ``CHANGE``: grouped by
  component, as the encoding is).
- ``SWAP`` only: ``ins``, the ``k`` set positions; ``outs``, the allowed unset positions; ``where``,
  each position's index in ``ins`` or ``outs`` (−1 elsewhere).
- ``CHANGE`` only: ``cur``, per component the index of its value among its allowed values;
  ``start``, each component's first index in ``allowed`` (and the end); ``movable``, the components
  with two or more allowed values; ``group`` and ``rank``, per position its component and its index
  among the component's allowed values (−1 where masked); ``offsets``, where each movable
  component's moves start in the neighbourhood's numbering (and the end).

The jitted functions here are ``jitable``: they compile inside the kernel that calls them.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from standin.search.jit import jitable, randint, random_bits
from standin.search.spaces import CHANGE, FLIP, SWAP

_EMPTY = np.zeros(0, dtype=np.int64)  # the unused fields of a move state (never written: size 0)

MoveState = namedtuple("MoveState", ["allowed", "ins", "outs", "where", "cur", "start", "movable", "group", "rank",
                                     "offsets"])
MoveState.__doc__ = """The kernels' state of a move set next to ``x``: int64 arrays (module docstring)."""

_FLIP_STATES: dict = {}  # id(M.allowed) -> (M.allowed, state): flip states are never written, so shared


def move_state(M) -> MoveState:
    """Allocate the move state for ``M`` and fill its static part (for ``FLIP`` moves, which never
    write it, one shared state per move set: it took 1.7 µs a search to rebuild)."""
    e = _EMPTY
    if M.kind == FLIP:
        cached = _FLIP_STATES.get(id(M.allowed))
        if cached is not None and cached[0] is M.allowed:
            return cached[1]
        state = MoveState(np.nonzero(M.allowed)[0].astype(np.int64), e, e, e, e, e, e, e, e, e)
        if len(_FLIP_STATES) >= 256:
            _FLIP_STATES.clear()
        _FLIP_STATES[id(M.allowed)] = (M.allowed, state)  # holds M.allowed, so its id stays unique
        return state
    allowed = np.nonzero(M.allowed)[0].astype(np.int64)
    if M.kind == SWAP:
        ins = np.zeros(M.k, dtype=np.int64)
        outs = np.zeros(allowed.shape[0] - M.k, dtype=np.int64)
        return MoveState(allowed, ins, outs, np.full(M.m, -1, dtype=np.int64), e, e, e, e, e, e)
    groups = M.offsets.shape[0] - 1
    group_of = np.repeat(np.arange(groups), np.diff(M.offsets))
    sizes = np.bincount(group_of[allowed], minlength=groups).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    group = np.full(M.m, -1, dtype=np.int64)
    rank = np.full(M.m, -1, dtype=np.int64)
    group[allowed] = group_of[allowed]
    rank[allowed] = np.arange(allowed.shape[0]) - start[group_of[allowed]]
    movable = np.nonzero(sizes >= 2)[0].astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes[movable] - 1)]).astype(np.int64)
    return MoveState(allowed, e, e, e, np.zeros(groups, dtype=np.int64), start, movable, group, rank, offsets)


# Hot-path functions read every array of the move state once, at the top, and return once, at
# the end (see search.landscapes).


@jitable
def mv_reset(M, S, x):
    """Set the dynamic part of the move state for the feasible encoding ``x``."""
    ins, outs, where, cur, group, rank = S.ins, S.outs, S.where, S.cur, S.group, S.rank
    if M.kind == SWAP:
        na = 0
        nb = 0
        allowed = M.allowed
        for i in range(M.m):
            if x[i]:
                ins[na] = i
                where[i] = na
                na += 1
            elif allowed[i]:
                outs[nb] = i
                where[i] = nb
                nb += 1
    elif M.kind == CHANGE:
        for i in range(M.m):
            if x[i]:
                cur[group[i]] = rank[i]


@jitable
def mv_random_state(M, S, x, rng):
    """Fill ``x`` with a uniformly random feasible action (call :func:`mv_reset` after)."""
    pos, start = S.allowed, S.start
    allowed = M.allowed
    if M.kind == FLIP:
        random_bits(rng, x)
        for i in range(M.m):
            if not allowed[i]:
                x[i] = 0
    elif M.kind == SWAP:  # the first k of a random permutation of the allowed positions
        for i in range(M.m):
            x[i] = 0
        size = pos.shape[0]
        for t in range(M.k):
            u = t + randint(rng, size - t)
            pos[t], pos[u] = pos[u], pos[t]
            x[pos[t]] = 1
    else:  # one allowed value per component
        for i in range(M.m):
            x[i] = 0
        for g in range(start.shape[0] - 1):
            x[pos[start[g] + randint(rng, start[g + 1] - start[g])]] = 1


@jitable
def mv_count(M, S):
    """Number of moves from the current state (the neighbourhood size)."""
    allowed, ins, outs, offsets = S.allowed, S.ins, S.outs, S.offsets
    if M.kind == FLIP:
        count = allowed.shape[0]
    elif M.kind == SWAP:
        count = ins.shape[0] * outs.shape[0]
    else:
        count = offsets[offsets.shape[0] - 1]
    return count


@jitable
def mv_nth(M, S, idx):
    """Move number ``idx`` in ``0..mv_count-1``, as ``(i, j)``."""
    allowed, ins, outs, cur, start, movable, offsets = S.allowed, S.ins, S.outs, S.cur, S.start, S.movable, S.offsets
    if M.kind == FLIP:
        i, j = allowed[idx], -1
    elif M.kind == SWAP:
        nout = outs.shape[0]
        i, j = ins[idx // nout], outs[idx % nout]
    else:  # the component's current value off, another of its values on
        g = np.searchsorted(offsets, idx, side="right") - 1
        grp = movable[g]
        r = idx - offsets[g]
        if r >= cur[grp]:
            r += 1
        i, j = allowed[start[grp] + cur[grp]], allowed[start[grp] + r]
    return i, j


@jitable
def mv_random(M, S, rng):
    """A uniformly random move ``(i, j)``; the caller ensures ``mv_count > 0``."""
    # one call site for the generator: with one per branch, numba's code ran 10× slower
    return mv_nth(M, S, randint(rng, mv_count(M, S)))


@jitable
def mv_apply(M, S, i, j):
    """Update the move state for the move ``(i, j)`` (``x`` is updated by the landscape)."""
    ins, outs, where, cur, group, rank = S.ins, S.outs, S.where, S.cur, S.group, S.rank
    if M.kind == SWAP:
        ai = where[i]
        bj = where[j]
        ins[ai] = j
        outs[bj] = i
        where[j] = ai
        where[i] = bj
    elif M.kind == CHANGE:
        cur[group[j]] = rank[j]


@jitable
def start_state(M, S, starts, r, x, rng):
    """Set ``x`` (and the move state) to restart ``r``'s first state: row ``r mod S`` of ``starts``
    ``(S, m)`` when ``S > 0``, else a uniformly random feasible action."""
    if starts.shape[0] > 0:
        row = r % starts.shape[0]
        for i in range(x.shape[0]):
            x[i] = starts[row, i]
    else:
        mv_random_state(M, S, x, rng)
    mv_reset(M, S, x)


@jitable
def improves(d, f):
    """Whether a change ``d`` of the value ``f`` is a real improvement, not rounding noise."""
    return d > 1e-12 * max(1.0, abs(f))


def buffers(moves) -> tuple:
    """``(x, best_x)``: two int8 ``(m,)`` buffers for a kernel."""
    x, best_x = np.zeros((2, moves.m), dtype=np.int8)  # one allocation: each row is C-contiguous
    return x, best_x


@jitable
def reset_state(S, S0):
    """Copy the move state ``S0`` into ``S`` (same shapes): a fresh state for the next search."""
    copy_into(S.allowed, S0.allowed)
    copy_into(S.ins, S0.ins)
    copy_into(S.outs, S0.outs)
    copy_into(S.where, S0.where)
    copy_into(S.cur, S0.cur)
    copy_into(S.start, S0.start)
    copy_into(S.movable, S0.movable)
    copy_into(S.group, S0.group)
    copy_into(S.rank, S0.rank)
    copy_into(S.offsets, S0.offsets)


@jitable
def copy_into(dst, src):
    """``dst[:] = src`` without allocating."""
    for i in range(src.shape[0]):
        dst[i] = src[i]
