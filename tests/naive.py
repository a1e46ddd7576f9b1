"""Slow, readable twins of the jitted kernels and of the environments' reward formulas.

Plain Python and numpy, no numba, written straight from the definitions so that the fast code
can be checked against them. Nothing here is clever; that is the point.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

MASK64 = (1 << 64) - 1

# ----------------------------------------------------------------------------- landscapes


def quadratic_value(c, h, J, x, U=None, sigma=None) -> float:
    """``c + h·x + xᵀJx + Σ_k σ_k (U[:, k]·x)²`` on the raw ``J`` the user passed (any square matrix,
    any diagonal, or None), with the low-rank part when ``U`` and ``sigma`` are given."""
    x = [float(v) for v in np.asarray(x).reshape(-1)]
    m = len(x)
    total = float(c)
    for i in range(m):
        total += float(h[i]) * x[i]
    if J is not None:
        for i in range(m):
            for j in range(m):
                total += x[i] * float(J[i][j]) * x[j]
    if U is not None:
        for k in range(len(sigma)):
            p = 0.0
            for i in range(m):
                p += float(U[i][k]) * x[i]
            total += float(sigma[k]) * p * p
    return total


def mlp_value(weights, biases, x) -> float:
    """A ReLU network on ``x``: layer ``l`` maps ``a`` to ``W_l a + b_l`` (``W_l`` is ``(out, in)``), ReLU
    after every layer but the last; the last layer has one output."""
    a = [float(v) for v in np.asarray(x).reshape(-1)]
    for index, (W, b) in enumerate(zip(weights, biases, strict=True)):
        W = np.asarray(W)
        out = []
        for o in range(W.shape[0]):
            z = float(b[o])
            for i in range(W.shape[1]):
                z += float(W[o, i]) * a[i]
            out.append(z)
        if index < len(weights) - 1:
            out = [max(z, 0.0) for z in out]
        a = out
    return a[0]


def knapsack_value(weights, values, capacity, penalty, x) -> float:
    """``Σ v_i x_i − penalty · max(0, Σ w_i x_i − capacity)``: a knapsack with a soft capacity."""
    load = sum(float(w) for w, xi in zip(weights, x, strict=True) if xi)
    gain = sum(float(v) for v, xi in zip(values, x, strict=True) if xi)
    return gain - float(penalty) * max(0.0, load - float(capacity))


def flipped(x, i, j=-1) -> np.ndarray:
    """A copy of the binary vector ``x`` with bit ``i`` flipped and, when ``j >= 0``, bit ``j`` too."""
    y = np.array(x, dtype=np.int8, copy=True)
    y[i] = 1 - y[i]
    if j >= 0:
        y[j] = 1 - y[j]
    return y


def move_delta(value, x, i, j=-1) -> float:
    """How much the move ``(i, j)`` changes ``value``, by evaluating both sides."""
    return value(flipped(x, i, j)) - value(x)


# ----------------------------------------------------------------------------- action spaces
#
# A space is read only through its attributes: ``nvec`` (MultiDiscrete), else ``n`` and, for k-of-N,
# ``k``. Encodings: the action itself for binary and k-of-N spaces; one one-hot block per component
# for MultiDiscrete. ``allowed[i] = 1`` where bit ``i`` of the encoding may be 1.


def encoding_length(space) -> int:
    return int(sum(space.nvec)) if hasattr(space, "nvec") else int(space.n)


def groups(space) -> list[range]:
    """The one-hot blocks of a MultiDiscrete encoding, as ranges of bit positions."""
    out, start = [], 0
    for v in space.nvec:
        out.append(range(start, start + v))
        start += v
    return out


def encode(space, action) -> np.ndarray:
    """The binary encoding of a native action."""
    if hasattr(space, "nvec"):
        x = np.zeros(encoding_length(space), dtype=np.int8)
        for block, a in zip(groups(space), action, strict=True):
            x[block[int(a)]] = 1
        return x
    return np.array(action, dtype=np.int8)


def decode(space, x) -> np.ndarray:
    """The native action of a feasible encoding: the set bit's position in each block (MultiDiscrete)."""
    if hasattr(space, "nvec"):
        return np.array([next(i for i, b in enumerate(block) if x[b]) for block in groups(space)], dtype=np.int64)
    return np.array(x, dtype=np.int8)


def is_feasible(space, allowed, x) -> bool:
    """Whether the encoding ``x`` is a feasible action of ``space`` under ``allowed``."""
    x = [int(v) for v in np.asarray(x).reshape(-1)]
    if len(x) != encoding_length(space) or any(v not in (0, 1) for v in x):
        return False
    if allowed is not None and any(v and not a for v, a in zip(x, allowed, strict=True)):
        return False
    if hasattr(space, "nvec"):
        return all(sum(x[i] for i in block) == 1 for block in groups(space))
    if hasattr(space, "k"):
        return sum(x) == space.k
    return True


def feasible_encodings(space, allowed=None) -> list[np.ndarray]:
    """Every feasible encoding, by filtering all ``2^m`` binary vectors."""
    m = encoding_length(space)
    return [x for x in all_actions(m) if is_feasible(space, allowed, x)]


def one_move_apart(space, x, y) -> bool:
    """Whether ``y`` is one move from ``x``: one bit flipped (binary), one item swapped for another
    (k-of-N), one component changed (MultiDiscrete). Both must be feasible."""
    differ = [i for i in range(len(x)) if x[i] != y[i]]
    if hasattr(space, "nvec"):
        return len(differ) == 2 and any(differ[0] in block and differ[1] in block for block in groups(space))
    if hasattr(space, "k"):
        return len(differ) == 2
    return len(differ) == 1


def neighbours(space, allowed, x, candidates=None) -> set[bytes]:
    """Every feasible encoding one move away from ``x``, as ``bytes`` of int8 rows. ``candidates``:
    the feasible encodings, when already enumerated."""
    candidates = feasible_encodings(space, allowed) if candidates is None else candidates
    return {y.tobytes() for y in candidates if one_move_apart(space, np.asarray(x), y)}


def feasible_count(space, allowed=None) -> int:
    """The number of feasible actions, from the closed forms (no enumeration)."""
    allowed = np.ones(encoding_length(space), dtype=np.int64) if allowed is None else np.asarray(allowed)
    if hasattr(space, "nvec"):
        return math.prod(int(sum(allowed[i] for i in block)) for block in groups(space))
    if hasattr(space, "k"):
        return math.comb(int(np.sum(allowed)), space.k)
    return 2 ** int(np.sum(allowed))


# ---------------------------------------------------------------------------- brute force


def all_actions(n: int):
    """Every binary vector of length ``n``, as int8 arrays."""
    for bits in itertools.product((0, 1), repeat=n):
        yield np.array(bits, dtype=np.int8)


def brute_force_max(value, n: int) -> tuple[float, list[np.ndarray]]:
    """The maximum of ``value(x)`` over all ``2^n`` binary ``x``, and every ``x`` that attains it."""
    return best_of(value, all_actions(n))


def best_of(value, candidates) -> tuple[float, list[np.ndarray]]:
    """The maximum of ``value(x)`` over ``candidates``, and every candidate that attains it."""
    best, argmax = -np.inf, []
    for x in candidates:
        v = value(x)
        if v > best:
            best, argmax = v, [x]
        elif v == best:
            argmax.append(x)
    return best, argmax


def feasible_max(value, space, allowed=None) -> tuple[float, list[np.ndarray]]:
    """The maximum of ``value`` over the feasible encodings of ``space``, and its maximisers."""
    return best_of(value, feasible_encodings(space, allowed))


# ------------------------------------------------------------------- random numbers (xoshiro)


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


def splitmix64_words(seed: int, count: int) -> list[int]:
    """The first ``count`` outputs of splitmix64 (Steele, Lea & Flood) started at ``seed``: the state
    advances by the golden-ratio constant, and each output is a mix of the new state."""
    state, out = seed & MASK64, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


class Xoshiro256ss:
    """xoshiro256** (Blackman & Vigna) on Python integers, from the reference C code."""

    def __init__(self, state):
        self.s = [int(v) for v in state]

    def next_u64(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        """The top 53 bits as a float in [0, 1)."""
        return (self.next_u64() >> 11) / 2.0**53

    def randint(self, k: int) -> int:
        """Uniform on ``0..k-1`` for ``k < 2^32`` (Lemire): ``(top 32 bits of a draw) * k``, whose top
        half is the result; reject draws whose low half falls below ``2^32 mod k``."""
        while True:
            m = (self.next_u64() >> 32) * k
            if (m & 0xFFFFFFFF) >= (2**32 - k) % k:
                return m >> 32

    def random_bits(self, n: int) -> np.ndarray:
        """``n`` fair bits, 64 per draw, least significant bit first."""
        bits = []
        while len(bits) < n:
            r = self.next_u64()
            bits.extend((r >> b) & 1 for b in range(min(64, n - len(bits))))
        return np.array(bits, dtype=np.int8)


# --------------------------------------------------------------------------- Landscape-v0


def landscape_target(P, context) -> np.ndarray:
    """``t = sign(P c)`` with ``sign(0) = +1``."""
    u = np.asarray(P, dtype=np.float64) @ np.asarray(context, dtype=np.float64)
    return np.where(u >= 0.0, 1.0, -1.0)


def landscape_reward(P, W, context, action, *, alpha, field) -> np.ndarray | float:
    """The Landscape-v0 reward, literally from its definition.

    With ``s = 2a − 1``, ``t = sign(P c)`` and ``W_t = W − t (tᵀW)/n``:
    ``r = −‖W_tᵀ s‖²/(n·M) − β(n − s·t)/(2n)``, or ``r = −(n − s·t)/(2n)`` when ``alpha`` is None.
    ``action`` may be one action ``(n,)`` or a batch ``(..., n)``.
    """
    a = np.asarray(action, dtype=np.float64)
    s = 2.0 * a - 1.0
    n = s.shape[-1]
    t = landscape_target(P, context)
    st = s @ t
    if alpha is None:
        r = -(n - st) / (2.0 * n)
    else:
        W = np.asarray(W, dtype=np.float64)
        M = W.shape[1]
        W_t = W - np.outer(t, t @ W) / n
        r = -np.sum((s @ W_t) ** 2, axis=-1) / (n * M) - field * (n - st) / (2.0 * n)
    return float(r) if np.ndim(r) == 0 else r


def env_reward(env, obs, action):
    """:func:`landscape_reward` with ``P``, ``W``, ``alpha`` and ``field`` read off a LandscapeEnv."""
    env = env.unwrapped
    return landscape_reward(env._P, env._W, obs, action, alpha=env.alpha, field=env.field)
