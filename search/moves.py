"""Move sets for the kernels: random feasible states, random moves, neighbourhood enumeration.

A move is a pair of encoding bits ``(i, j)``: flip ``i`` and, when ``j ≥ 0``, ``j`` too. For
``SWAP`` and ``CHANGE`` moves ``i`` is the bit that turns off and ``j`` the bit that turns on.

Kernels keep a *move state* ``S`` next to ``x``: a tuple of seven int64 arrays, allocated by
:func:`move_state` and reset for a new ``x`` by :func:`mv_reset`. What they hold depends on the kind
of ``M`` (a :data:`search.spaces.Moves`):

- ``FLIP``: ``S[0]`` the positions that may change; the rest empty.
- ``SWAP``: ``S[0]`` the ``k`` set positions (``ins``), ``S[1]`` the allowed unset positions
  (``outs``), ``S[2]`` each position's index in ``ins`` or ``outs``, ``S[3]`` the allowed positions
  (scratch for random states).
- ``CHANGE``: ``S[0]`` per group the index of its value among the group's allowed values (``cur``),
  ``S[1]`` the allowed positions, grouped (``lst``), ``S[2]`` the group starts in ``lst``, ``S[3]``
  the groups with two or more allowed values, ``S[4]`` and ``S[5]`` per position its group and its
  index among the group's allowed values (−1 where masked), ``S[6]`` the neighbourhood offsets of
  the movable groups.

The jitted functions here are ``jitable``: they compile inside the kernel that calls them.
"""

from __future__ import annotations

import numpy as np

from standin.search._jit import jitable, randint, random_bits
from standin.search.spaces import CHANGE, FLIP, SWAP

_EMPTY = np.zeros(0, dtype=np.int64)  # the unused slots of a move state (never written: size 0)


_FLIP_STATES: dict = {}  # id(M.allowed) -> (M.allowed, state): flip states are never written, so shared


def move_state(M) -> tuple:
    """Allocate the move state for ``M`` and fill its static part (for ``FLIP`` moves, which never
    write it, one shared state per move set: it took 1.7 µs a search to rebuild)."""
    empty = _EMPTY
    if M.kind == FLIP:
        cached = _FLIP_STATES.get(id(M.allowed))
        if cached is not None and cached[0] is M.allowed:
            return cached[1]
        allowed = np.nonzero(M.allowed)[0].astype(np.int64)
        state = (allowed, empty, empty, empty, empty, empty, empty)
        if len(_FLIP_STATES) >= 256:
            _FLIP_STATES.clear()
        _FLIP_STATES[id(M.allowed)] = (M.allowed, state)  # holds M.allowed, so its id stays unique
        return state
    allowed = np.nonzero(M.allowed)[0].astype(np.int64)
    if M.kind == SWAP:
        ins = np.zeros(M.k, dtype=np.int64)
        outs = np.zeros(allowed.shape[0] - M.k, dtype=np.int64)
        return (ins, outs, np.full(M.m, -1, dtype=np.int64), allowed.copy(), empty, empty, empty)
    groups = M.offsets.shape[0] - 1
    group_of = np.repeat(np.arange(groups), np.diff(M.offsets))
    lst = allowed
    sizes = np.bincount(group_of[lst], minlength=groups).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    group = np.full(M.m, -1, dtype=np.int64)
    rank = np.full(M.m, -1, dtype=np.int64)
    group[lst] = group_of[lst]
    rank[lst] = np.arange(lst.shape[0]) - start[group_of[lst]]
    movable = np.nonzero(sizes >= 2)[0].astype(np.int64)
    nb = np.concatenate([[0], np.cumsum(sizes[movable] - 1)]).astype(np.int64)
    return (np.zeros(groups, dtype=np.int64), lst, start, movable, group, rank, nb)


# Hot-path functions read every array of the move state once, at the top, and return once, at
# the end (see search.landscapes).


@jitable
def mv_reset(M, S, x):
    """Set the dynamic part of the move state for the feasible encoding ``x``."""
    a, b, c = S[0], S[1], S[2]
    group, rank = S[4], S[5]
    if M.kind == SWAP:  # a = ins, b = outs, c = where
        na = 0
        nb = 0
        allowed = M.allowed
        for i in range(M.m):
            if x[i]:
                a[na] = i
                c[i] = na
                na += 1
            elif allowed[i]:
                b[nb] = i
                c[i] = nb
                nb += 1
    elif M.kind == CHANGE:  # a = cur
        for i in range(M.m):
            if x[i]:
                a[group[i]] = rank[i]


@jitable
def mv_random_state(M, S, x, rng):
    """Fill ``x`` with a uniformly random feasible action (call :func:`mv_reset` after)."""
    b, c, d = S[1], S[2], S[3]
    allowed = M.allowed
    if M.kind == FLIP:
        random_bits(rng, x)
        for i in range(M.m):
            if not allowed[i]:
                x[i] = 0
    elif M.kind == SWAP:  # d = allowed positions: the first k of a random permutation
        for i in range(M.m):
            x[i] = 0
        size = d.shape[0]
        for t in range(M.k):
            u = t + randint(rng, size - t)
            d[t], d[u] = d[u], d[t]
            x[d[t]] = 1
    else:  # b = lst, c = start
        for i in range(M.m):
            x[i] = 0
        for g in range(c.shape[0] - 1):
            x[b[c[g] + randint(rng, c[g + 1] - c[g])]] = 1


@jitable
def mv_count(M, S):
    """Number of moves from the current state (the neighbourhood size)."""
    a, b, nb = S[0], S[1], S[6]
    if M.kind == FLIP:
        count = a.shape[0]
    elif M.kind == SWAP:
        count = a.shape[0] * b.shape[0]
    else:
        count = nb[nb.shape[0] - 1]
    return count


@jitable
def mv_nth(M, S, idx):
    """Move number ``idx`` in ``0..mv_count-1``, as ``(i, j)``."""
    a, b, c, movable, nb = S[0], S[1], S[2], S[3], S[6]
    if M.kind == FLIP:
        i, j = a[idx], -1
    elif M.kind == SWAP:
        nout = b.shape[0]
        i, j = a[idx // nout], b[idx % nout]
    else:  # a = cur, b = lst, c = start
        g = np.searchsorted(nb, idx, side="right") - 1
        grp = movable[g]
        r = idx - nb[g]
        if r >= a[grp]:
            r += 1
        i, j = b[c[grp] + a[grp]], b[c[grp] + r]
    return i, j


@jitable
def mv_random(M, S, rng):
    """A uniformly random move ``(i, j)``; the caller ensures ``mv_count > 0``."""
    # one call site for the generator: with one per branch, numba's code ran 10× slower
    return mv_nth(M, S, randint(rng, mv_count(M, S)))


@jitable
def mv_apply(M, S, i, j):
    """Update the move state for the move ``(i, j)`` (``x`` is updated by the landscape)."""
    a, b, c, group, rank = S[0], S[1], S[2], S[4], S[5]
    if M.kind == SWAP:  # a = ins, b = outs, c = where
        ai = c[i]
        bj = c[j]
        a[ai] = j
        b[bj] = i
        c[j] = ai
        c[i] = bj
    elif M.kind == CHANGE:  # a = cur
        a[group[j]] = rank[j]


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
    for t in range(S0[0].shape[0]):
        S[0][t] = S0[0][t]
    for t in range(S0[1].shape[0]):
        S[1][t] = S0[1][t]
    for t in range(S0[2].shape[0]):
        S[2][t] = S0[2][t]
    for t in range(S0[3].shape[0]):
        S[3][t] = S0[3][t]
    for t in range(S0[4].shape[0]):
        S[4][t] = S0[4][t]
    for t in range(S0[5].shape[0]):
        S[5][t] = S0[5][t]
    for t in range(S0[6].shape[0]):
        S[6][t] = S0[6][t]


@jitable
def copy_into(dst, src):
    """``dst[:] = src`` without allocating."""
    for i in range(src.shape[0]):
        dst[i] = src[i]
