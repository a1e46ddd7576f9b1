"""Slow, readable twins of the jitted kernels and of the environments' reward formulas.

Plain Python and numpy, no numba, written straight from the definitions so that the fast code
can be checked against them. Nothing here is clever; that is the point.
"""

from __future__ import annotations

import itertools

import numpy as np

MASK64 = (1 << 64) - 1

# ----------------------------------------------------------------------- quadratic landscapes


def quadratic_value(c, h, J, x) -> float:
    """``c + h·x + xᵀJx`` on the raw ``J`` the user passed (any square matrix, any diagonal)."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    total = float(c)
    for i in range(len(x)):
        total += h[i] * x[i]
        for j in range(len(x)):
            total += x[i] * J[i, j] * x[j]
    return total


def flipped(x, i) -> np.ndarray:
    """A copy of the binary vector ``x`` with bit ``i`` flipped."""
    y = np.array(x, dtype=np.int8, copy=True)
    y[i] = 1 - y[i]
    return y


def quadratic_flip_delta(c, h, J, x, i) -> float:
    """How much flipping bit ``i`` of ``x`` changes the quadratic, by evaluating both sides."""
    return quadratic_value(c, h, J, flipped(x, i)) - quadratic_value(c, h, J, x)


# ---------------------------------------------------------------------------- brute force


def all_actions(n: int):
    """Every binary vector of length ``n``, as int8 arrays."""
    for bits in itertools.product((0, 1), repeat=n):
        yield np.array(bits, dtype=np.int8)


def brute_force_max(value, n: int) -> tuple[float, list[np.ndarray]]:
    """The maximum of ``value(x)`` over all ``2^n`` binary ``x``, and every ``x`` that attains it."""
    best, argmax = -np.inf, []
    for x in all_actions(n):
        v = value(x)
        if v > best:
            best, argmax = v, [x]
        elif v == best:
            argmax.append(x)
    return best, argmax


# ------------------------------------------------------------------- random numbers (xoshiro)


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


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


def random_shooting(value, n: int, budget: int, state) -> tuple[np.ndarray, float]:
    """Evaluate ``budget`` random actions drawn from ``state``; keep the first best one."""
    rng = Xoshiro256ss(state)
    best_x, best = None, -np.inf
    for _ in range(budget):
        x = rng.random_bits(n)
        v = value(x)
        if v > best:
            best_x, best = x, v
    return best_x, best


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
