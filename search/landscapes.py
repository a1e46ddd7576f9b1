"""Landscapes: what a search maximises, for the state at hand.

A landscape is a plain, frozen data object. Search never sees torch; value networks in
``agents/`` export landscapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search._jit import njit


@dataclass(frozen=True, eq=False)
class Quadratic:
    """``f(x) = c + h·x + xᵀ J x`` on a binary vector ``x ∈ {0,1}^n``.

    Stored canonically: ``J`` is symmetric with a zero diagonal (``x_i² = x_i``, so a diagonal
    is folded into ``h`` at construction). Single-flip deltas then come from the *local field*
    ``g = h + 2 J x``: flipping bit ``i`` changes ``f`` by ``(1 − 2 x_i) · g_i`` (O(1)), and an
    accepted flip of bit ``k`` updates ``g`` by ``2 J[:, k] (1 − 2 x_k)`` (O(n)).

    Attributes:
        c: constant, float.
        h: linear coefficients, float64 ``(n,)``.
        J: pairwise coefficients, float64 ``(n, n)``, symmetric, zero diagonal.
    """

    c: float
    h: np.ndarray
    J: np.ndarray

    def __post_init__(self):
        h = np.asarray(self.h, dtype=np.float64)
        J = np.asarray(self.J, dtype=np.float64)
        if h.ndim != 1:
            raise ValueError(f"Quadratic: h must be a vector, got shape {h.shape}")
        n = h.shape[0]
        if J.shape != (n, n):
            raise ValueError(f"Quadratic: J must have shape ({n}, {n}) to match h, got {J.shape}")
        c = float(self.c)
        if not (np.isfinite(c) and np.isfinite(h).all() and np.isfinite(J).all()):
            raise ValueError("Quadratic: c, h and J must be finite (found NaN or inf)")
        J = 0.5 * (J + J.T)
        diag = np.diagonal(J).copy()
        if diag.any():
            h = h + diag
            J = J.copy()
            np.fill_diagonal(J, 0.0)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "h", np.ascontiguousarray(h))
        object.__setattr__(self, "J", np.ascontiguousarray(J))

    @property
    def n(self) -> int:
        return self.h.shape[0]

    def __call__(self, x) -> np.ndarray | float:
        """Evaluate at one binary vector ``(n,)`` or a batch ``(..., n)`` (numpy, not jitted)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.n:
            raise ValueError(f"Quadratic: expected actions with last dimension {self.n}, got {x.shape}")
        value = self.c + x @ self.h + np.einsum("...i,ij,...j->...", x, self.J, x)
        return float(value) if x.ndim == 1 else value

    def flip_bounds(self) -> np.ndarray:
        """``B_i = |h_i| + 2 Σ_j |J_ij|``: no single flip of bit ``i`` changes ``f`` by more."""
        return np.abs(self.h) + 2.0 * np.abs(self.J).sum(axis=1)


# ------------------------------------------------------------------- jitted primitives


@njit
def quad_value(c, h, J, x):
    """``c + h·x + xᵀJx`` for an int8 vector ``x``, touching only its set bits."""
    n = x.shape[0]
    idx = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        if x[i]:
            idx[m] = i
            m += 1
    total = c
    for a in range(m):
        i = idx[a]
        row = h[i]
        for b in range(m):
            row += J[i, idx[b]]
        total += row
    return total


@njit
def quad_fields(h, J, x, g):
    """Write the local fields ``g = h + 2 J x`` for the int8 vector ``x``."""
    n = x.shape[0]
    for i in range(n):
        g[i] = h[i]
    for j in range(n):
        if x[j]:
            for i in range(n):
                g[i] += 2.0 * J[j, i]  # J is symmetric: read row j, contiguous


@njit
def quad_flip(J, g, x, k):
    """Flip bit ``k`` of ``x`` in place and update the fields ``g``."""
    d = 2.0 * (1 - 2 * x[k])
    x[k] = 1 - x[k]
    n = x.shape[0]
    for i in range(n):
        g[i] += d * J[k, i]  # J is symmetric: read row k, contiguous
