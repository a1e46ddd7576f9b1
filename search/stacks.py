"""Stacks: many landscapes of one form and size, held as stacked arrays.

A value network exports one landscape per state, and for a batch of states its outputs are already
stacked arrays (``h`` ``(B, m)``, factors ``(B, m, r)``, first-layer weights ``(B, H, m)``). A stack
keeps them that way: :func:`search.maximize_batch` hands its arrays to the search kernel in one call,
with no per-landscape objects, checks or copies. ``stack[b]`` is landscape ``b`` as a
:class:`~search.Quadratic` or :class:`~search.MLP`, built on demand, whose search uses the stack's
own arrays: ``maximize_batch(stack, ...)`` equals ``[maximize(stack[b], ..., seed=derive_seed(seed, b))]``
bit for bit.

- :class:`QuadraticStack`: dense ``J`` ``(B, m, m)`` or low-rank ``U`` ``(B, m, r)`` with ``sigma``.
- :class:`MLPStack`: per-landscape first layers ``(B, H, m)`` and biases ``(B, H)``; the deeper
  layers are shared (a value network's, where only the first layer's bias depends on the state).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from standin.search.landscapes import (
    DENSE_BUILD_MAX,
    MLP,
    DenseBatch,
    DenseData,
    LowRankBatch,
    LowRankData,
    MLPBatch,
    MLPData,
    Quadratic,
    check_finite,
    kernel_array,
)


def _floats(name: str, what: str, a, ndim: int) -> np.ndarray:
    a = kernel_array(np.asarray(a, dtype=np.float64))  # as the kernels take it
    if a.ndim != ndim:
        raise ValueError(f"{name}: {what} must have {ndim} dimensions, got shape {a.shape}")
    check_finite(name, a)
    return a


class QuadraticStack(Sequence):
    """``B`` Quadratics over ``m`` bits in one storage form: dense (``J``) or low rank (``U``, ``sigma``).

    ``f_b(x) = c[b] + h[b]·x + xᵀ J[b] x`` (dense) or ``c[b] + h[b]·x + Σ_k σ_bk (U[b, :, k]·x)²``
    (low rank). A dense ``J[b]`` is symmetrised and its diagonal folded into ``h[b]``, as
    :class:`~search.Quadratic` does. Each landscape is searched in the stack's form (a dense one is
    not switched to the sparse form by its density, as a lone Quadratic would be).

    Args:
        c: ``(B,)`` constants.
        h: ``(B, m)`` linear coefficients.
        J: ``(B, m, m)`` pairwise coefficients, or None for the low-rank form.
        U: ``(B, m, r)`` factors (with ``sigma``), or None for the dense form.
        sigma: ``(r,)`` weights shared by every landscape, or ``(B, r)``.
    """

    def __init__(self, c, h, J=None, U=None, sigma=None):
        name = "QuadraticStack"
        h = _floats(name, "h", h, 2)
        B, m = h.shape
        c = _floats(name, "c", np.reshape(c, -1), 1)
        if c.shape != (B,):
            raise ValueError(f"{name}: c must have shape ({B},) to match h {h.shape}, got {c.shape}")
        if (J is None) == (U is None):
            raise ValueError(f"{name}: give J (dense) or U and sigma (low rank), one of them")
        if J is not None:
            J = _floats(name, "J", J, 3)
            if J.shape != (B, m, m):
                raise ValueError(f"{name}: J must have shape ({B}, {m}, {m}) to match h, got {J.shape}")
            J = 0.5 * (J + J.transpose(0, 2, 1))
            diag = np.diagonal(J, axis1=1, axis2=2)
            if diag.any():
                h = h + diag
                J[:, np.arange(m), np.arange(m)] = 0.0
            self._data = DenseBatch(c, h, J)
        else:
            if sigma is None:
                raise ValueError(f"{name}: the low-rank form needs sigma with U")
            U = _floats(name, "U", U, 3)
            if U.shape[:2] != (B, m):
                raise ValueError(f"{name}: U must have shape ({B}, {m}, r) to match h, got {U.shape}")
            r = U.shape[2]
            sigma = np.asarray(sigma, dtype=np.float64)
            if sigma.shape == (r,):
                sigma = np.repeat(sigma[None, :], B, axis=0)  # a copy: kernels take writeable arrays
            if sigma.shape != (B, r):
                raise ValueError(f"{name}: sigma must have shape ({r},) or ({B}, {r}) to match U, got {sigma.shape}")
            sigma = _floats(name, "sigma", sigma, 2)
            W = U * sigma[:, None, :]
            q = np.einsum("bmr,bmr->bm", U, W)  # Σ_k σ_k U_ik²: the diagonal a flip adds
            self._data = LowRankBatch(c, h, U, W, q, sigma)

    @classmethod
    def from_factors(cls, c, h, U, sigma) -> QuadraticStack:
        """``c + h·x + Σ_k σ_k (U[b, :, k]·x)²`` in the form :meth:`Quadratic.from_factors` picks for
        one landscape of this size: dense when ``5r > m`` and ``m²r ≤ DENSE_BUILD_MAX``, else low rank."""
        U = np.asarray(U, dtype=np.float64)
        h = np.asarray(h, dtype=np.float64)
        if U.ndim != 3 or h.ndim != 2 or U.shape[:2] != h.shape:
            raise ValueError(f"QuadraticStack.from_factors: need h (B, m) and U (B, m, r), got {h.shape} and {U.shape}")
        m, r = U.shape[1], U.shape[2]
        if 5 * r <= m or m * m * r > DENSE_BUILD_MAX:
            return cls(c, h, U=U, sigma=sigma)
        sigma = np.asarray(sigma, dtype=np.float64)
        sig = sigma[:, None, :] if sigma.ndim == 2 else sigma
        return cls(c, h, J=(U * sig) @ U.transpose(0, 2, 1))

    @property
    def m(self) -> int:
        return self._data.h.shape[1]

    @property
    def form(self) -> str:
        """``"dense"`` or ``"low-rank"``."""
        return "dense" if isinstance(self._data, DenseBatch) else "low-rank"

    @property
    def c(self) -> np.ndarray:
        """``(B,)`` constants."""
        return self._data.c

    @property
    def h(self) -> np.ndarray:
        """``(B, m)`` linear coefficients (a dense ``J``'s diagonal folded in)."""
        return self._data.h

    @property
    def J(self) -> np.ndarray | None:
        """``(B, m, m)`` symmetric pairwise coefficients with a zero diagonal; None in the low-rank form."""
        return self._data.J if isinstance(self._data, DenseBatch) else None

    @property
    def U(self) -> np.ndarray | None:
        """``(B, m, r)`` factors; None in the dense form."""
        return None if isinstance(self._data, DenseBatch) else self._data.U

    @property
    def sigma(self) -> np.ndarray | None:
        """``(B, r)`` weights of the factors; None in the dense form."""
        return None if isinstance(self._data, DenseBatch) else self._data.sigma

    def __len__(self) -> int:
        return self._data.c.shape[0]

    def __getitem__(self, b):
        if isinstance(b, slice):
            return [self[i] for i in range(*b.indices(len(self)))]
        b = range(len(self))[b]
        D = self._data
        if isinstance(D, DenseBatch):
            q = Quadratic.from_symmetric(float(D.c[b]), D.h[b], D.J[b])
            data = DenseData(float(D.c[b]), D.h[b], D.J[b])
        else:
            q = Quadratic.low_rank(float(D.c[b]), D.h[b], D.U[b], D.sigma[b])
            data = LowRankData(float(D.c[b]), D.h[b], D.U[b], D.W[b], D.q[b], D.sigma[b])
        object.__setattr__(q, "_kernel_args", (data, type(data).__name__))  # search the stack's arrays
        return q

    def __call__(self, x) -> np.ndarray:
        """Every landscape at its own action: ``x`` ``(B, m)`` → ``(B,)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (len(self), self.m):
            raise ValueError(f"QuadraticStack: expected actions of shape {(len(self), self.m)}, got {x.shape}")
        D = self._data
        value = D.c + np.einsum("bm,bm->b", D.h, x)
        if isinstance(D, DenseBatch):
            return value + np.einsum("bi,bij,bj->b", x, D.J, x)
        return value + (np.einsum("bmr,bm->br", D.U, x) ** 2 * D.sigma).sum(-1)

    def kernel_batch(self) -> tuple:
        """``(BD, key)`` as :func:`search.landscapes.stack_kernel_data` gives them, without copies."""
        return self._data, type(self._data).__name__

    def __repr__(self) -> str:
        return f"QuadraticStack({len(self)} × m={self.m}, {self.form})"


class MLPStack(Sequence):
    """``B`` ReLU networks over ``m`` bits that differ only in their first layer.

    Landscape ``b`` is ``MLP((W1[b], *weights), (b1[b], *biases))``: what a value network on
    ``[state, action]`` gives per state, the state's part folded into the first layer's bias.

    Args:
        W1: ``(B, H, m)`` first-layer weights (torch's ``(out, in)`` layout per landscape), or
            ``(H, m)`` shared by all (a network on ``[state, action]``, whose state part is in ``b1``).
        b1: ``(B, H)`` first-layer biases.
        weights, biases: the deeper layers, shared, as :class:`~search.MLP` takes them (``(out, in)``
            and ``(out,)``; the last has one output); empty when the first layer is the output.
    """

    def __init__(self, W1, b1, weights=(), biases=()):
        name = "MLPStack"
        b1 = _floats(name, "b1", b1, 2)
        W1 = np.asarray(W1, dtype=np.float64)
        W1 = _floats(name, "W1", W1[None] if W1.ndim == 2 else W1, 3)  # one row: shared by the batch
        B, (H, m) = b1.shape[0], W1.shape[1:]
        if W1.shape[0] not in (1, B) or b1.shape != (B, H):
            raise ValueError(f"{name}: need W1 (B, H, m) or (H, m) and b1 (B, H), got {W1.shape} and {b1.shape}")
        # the shared layers are checked by MLP, once, on a template of landscape 0's shapes
        template = MLP((np.zeros((H, m)), *weights), (np.zeros(H), *biases))
        self._rest = (template.weights[1:], template.biases[1:])
        self._W1, self._b1 = W1, b1
        rest = template.kernel_data()
        # the deeper layers once (row 0), for every landscape: ls_nth reads row min(b, rows - 1)
        self._data = MLPBatch(np.ascontiguousarray(W1.transpose(0, 2, 1)), b1, rest.weights[None, :],
                              rest.biases[None, :], rest.dims)

    @property
    def m(self) -> int:
        return self._W1.shape[2]

    @property
    def W1(self) -> np.ndarray:
        """``(B, H, m)`` first-layer weights, or ``(1, H, m)`` shared by the batch."""
        return self._W1

    @property
    def b1(self) -> np.ndarray:
        """``(B, H)`` first-layer biases."""
        return self._b1

    @property
    def weights(self) -> tuple:
        """The deeper layers' weights, shared, ``(out, in)`` each."""
        return self._rest[0]

    @property
    def biases(self) -> tuple:
        """The deeper layers' biases, shared."""
        return self._rest[1]

    def __len__(self) -> int:
        return self._b1.shape[0]

    def __getitem__(self, b):
        if isinstance(b, slice):
            return [self[i] for i in range(*b.indices(len(self)))]
        b = range(len(self))[b]
        rest_w, rest_b = self._rest
        first = min(b, self._W1.shape[0] - 1)
        net = MLP((self._W1[first], *rest_w), (self._b1[b], *rest_b))
        D = self._data
        data = MLPData(D.W1T[first], D.b1[b], D.weights[0], D.biases[0], D.dims)
        object.__setattr__(net, "_kernel_args", (data, "MLPData"))  # search the stack's arrays
        return net

    def __call__(self, x) -> np.ndarray:
        """Every landscape at its own action: ``x`` ``(B, m)`` → ``(B,)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (len(self), self.m):
            raise ValueError(f"MLPStack: expected actions of shape {(len(self), self.m)}, got {x.shape}")
        a = np.einsum("bhm,bm->bh", np.broadcast_to(self._W1, (len(self), *self._W1.shape[1:])), x) + self._b1
        rest_w, rest_b = self._rest
        for w, bias in zip(rest_w, rest_b, strict=True):
            a = np.maximum(a, 0.0) @ w.T + bias
        return a[:, 0]

    def kernel_batch(self) -> tuple:
        """``(BD, key)`` as :func:`search.landscapes.stack_kernel_data` gives them, without copies."""
        return self._data, "MLPBatch"

    def __repr__(self) -> str:
        return f"MLPStack({len(self)} × m={self.m}, hidden {self._W1.shape[1]})"


STACKS = (QuadraticStack, MLPStack)

__all__ = ["STACKS", "MLPStack", "QuadraticStack"]
