"""Landscapes: what a search maximises, for the state at hand.

A landscape is a plain, frozen data object over the binary encoding ``x ∈ {0,1}^m`` of an action
(see :mod:`search.spaces`). Search never sees torch; value networks in ``agents/`` export
landscapes. Four forms:

- :class:`Quadratic`: ``c + h·x + xᵀJx + Σ_k σ_k (u_k·x)²``, dense ``J``, sparse ``J`` (CSR),
  low-rank factors, or dense and low rank; single-bit deltas in O(1) (dense, sparse) or O(r) (low
  rank), commits in O(m), O(deg) and O(r).
- :class:`MLP`: a ReLU network whose state part is folded into the first-layer bias; local search
  keeps the first layer's pre-activation and updates it in O(H) per move.
- :class:`Objective`: a numba function plus parameter arrays, with an optional jitted delta.
- :class:`Batch`: any numpy-in, numpy-out callable; only the sampling methods can use it.

Kernels see a landscape through its ``kernel_data()`` namedtuple ``D``, its ``kernel_aux()``
buffers ``aux`` (a tuple of float64 arrays: the incremental state and scratch), and four generic
operations resolved at compile time by the type of ``D`` (``numba.extending.overload``):

- ``ls_value(D, aux, x)``: ``f(x)`` (uses only the scratch part of ``aux``);
- ``ls_reset(D, aux, x)``: set the incremental state for ``x`` and return ``f(x)``;
- ``ls_delta(D, aux, x, f, i, j)``: ``f(x') − f(x)`` where ``x'`` is ``x`` with bit ``i`` flipped and,
  if ``j ≥ 0``, bit ``j`` too; ``f`` is the current value ``f(x)``;
- ``ls_commit(D, aux, x, i, j)``: make that move: update ``aux`` and flip the bits of ``x``.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numba
import numpy as np
from numba import types
from numba.extending import overload

from standin.search.jit import NEEDS_NRT, arg_key, jitable, kernel, kernel_doc, njit

DENSE_BUILD_MAX = 2**23
"""``Quadratic.from_factors`` builds the dense ``m×m`` matrix only when it costs at most this many
multiply-adds (``m²r``: a few milliseconds); beyond it the factors are searched as they are."""

SPARSE_MAX_DENSITY = 0.1
"""A dense ``J`` with at most this fraction of nonzero couplings (and ``m ≥`` :data:`SPARSE_MIN_M`) is
searched in the sparse form: an accepted flip then updates ``deg(i)`` fields instead of ``m``."""
SPARSE_MIN_M = 64

DenseData = namedtuple("DenseData", ["c", "h", "J"])
SparseData = namedtuple("SparseData", ["c", "h", "indptr", "indices", "data"])
CSR = namedtuple("CSR", ["indptr", "indices", "data"])
# The same forms stacked over a batch of landscapes (see stack_kernel_data): one kernel call searches
# them all; ls_nth(BD, b) gives landscape b's data as views.
DenseBatch = namedtuple("DenseBatch", ["c", "h", "J"])
SparseBatch = namedtuple("SparseBatch", ["c", "h", "indptr", "indices", "data"])
LowRankBatch = namedtuple("LowRankBatch", ["c", "h", "U", "W", "q", "sigma"])
MLPBatch = namedtuple("MLPBatch", ["W1T", "b1", "weights", "biases", "dims"])
CSR.__doc__ = """Sparse symmetric couplings in compressed-row form: row ``i``'s neighbours are
``indices[indptr[i]:indptr[i + 1]]`` (sorted, no duplicates, no diagonal) with weights ``data``."""
LowRankData = namedtuple("LowRankData", ["c", "h", "U", "W", "q", "sigma"])
MLPData = namedtuple("MLPData", ["W1T", "b1", "weights", "biases", "dims"])
ObjData = namedtuple("ObjData", ["value", "delta", "update", "init", "params", "has_delta", "aux_size"])
NEEDS_NRT.add(ObjData)


def kernel_array(a: np.ndarray) -> np.ndarray:
    """``a`` as kernels take it: C-contiguous, aligned and writeable (a copy only when it is not)."""
    f = a.flags
    return a if f.c_contiguous and f.aligned and f.writeable else np.array(a, order="C")


def check_finite(name, *arrays):
    for a in arrays:
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: coefficients must be finite (found NaN or inf)")


# =================================================================== Quadratic


@dataclass(frozen=True, eq=False)
class Quadratic:
    """``f(x) = c + h·x + xᵀ J x + Σ_k σ_k (U[:, k]·x)²`` on a binary vector ``x ∈ {0,1}^m``.

    Three storage forms with the same API:

    - **dense** ``J`` ``(m, m)``: stored symmetric with a zero diagonal (``x_i² = x_i``, so a
      diagonal is folded into ``h``). Deltas come from the local fields ``g = h + 2Jx``: one flip
      of bit ``i`` changes ``f`` by ``s_i g_i`` with ``s_i = 1 − 2x_i`` (O(1)); an accepted flip
      updates ``g`` in O(m). Memory O(m²): 128 MiB at m = 4096.
    - **sparse** ``J`` (:class:`CSR`, from :meth:`from_edges` or a scipy sparse matrix given as
      ``J``): the same fields, but an accepted flip updates only the ``deg(i)`` fields of bit
      ``i``'s neighbours, and a two-bit delta looks ``J_ij`` up in O(log deg). Memory O(m + edges).
      A dense ``J`` with few nonzeros (at most :data:`SPARSE_MAX_DENSITY`) is searched this way too.
    - **low rank** ``U`` ``(m, r)`` and ``sigma`` ``(r,)``: deltas come from the projections
      ``p = Uᵀx``: flipping bit ``i`` changes ``f`` by ``s_i (h_i + 2 Σ_k σ_k U_ik p_k) + Σ_k σ_k U_ik²``
      (O(r)), and an accepted flip updates ``p`` in O(r). Memory O(m·r). A dense ``J`` and low-rank
      factors may be given together.

    Use :meth:`low_rank` for large ``m`` when ``J`` has a low-rank form; :meth:`dense` converts
    any form to a dense ``J`` (for exact solvers and tests).

    Attributes:
        c: constant.
        h: linear coefficients, float64 ``(m,)``.
        J: pairwise coefficients, float64 ``(m, m)`` symmetric with zero diagonal, or None.
        U: low-rank factors, float64 ``(m, r)``, or None.
        sigma: low-rank weights, float64 ``(r,)``, or None.
        sparse: sparse symmetric pairwise coefficients (:class:`CSR`, the same role as ``J``), or None.
    """

    c: float
    h: np.ndarray
    J: np.ndarray | None = None
    U: np.ndarray | None = None
    sigma: np.ndarray | None = None
    sparse: CSR | None = None

    def __post_init__(self):
        h = np.asarray(self.h, dtype=np.float64)
        if h.ndim != 1:
            raise ValueError(f"Quadratic: h must be a vector, got shape {h.shape}")
        m = h.shape[0]
        c = float(self.c)
        check_finite("Quadratic", np.array(c), h)
        J, sparse = self.J, self.sparse
        if J is not None and hasattr(J, "tocoo"):  # a scipy sparse matrix or array
            if sparse is not None:
                raise ValueError("Quadratic: give the pairwise terms once, as J or as sparse")
            if tuple(J.shape) != (m, m):
                raise ValueError(f"Quadratic: J must have shape ({m}, {m}) to match h, got {tuple(J.shape)}")
            coo = J.tocoo()
            J, sparse = None, csr_from_entries(m, coo.row, coo.col, coo.data, "Quadratic")
        if J is not None:
            if sparse is not None:
                raise ValueError("Quadratic: give the pairwise terms once, as J or as sparse")
            J = np.asarray(J, dtype=np.float64)
            if J.shape != (m, m):
                raise ValueError(f"Quadratic: J must have shape ({m}, {m}) to match h, got {J.shape}")
            check_finite("Quadratic", J)
            J = 0.5 * (J + J.T)
            diag = np.diagonal(J).copy()
            if diag.any():
                h = h + diag
                np.fill_diagonal(J, 0.0)
            J = np.ascontiguousarray(J)
        if sparse is not None:
            sparse = _check_csr(sparse, m)
        U, sigma = self.U, self.sigma
        if (U is None) != (sigma is None):
            raise ValueError("Quadratic: give both U and sigma for the low-rank form, or neither")
        if U is not None:
            if sparse is not None:
                raise ValueError("Quadratic: a sparse J can't be combined with low-rank factors; "
                                 "use a dense J, or .dense()")
            U = np.ascontiguousarray(np.asarray(U, dtype=np.float64))
            sigma = np.ascontiguousarray(np.asarray(sigma, dtype=np.float64).reshape(-1))
            if U.ndim != 2 or U.shape[0] != m:
                raise ValueError(f"Quadratic: U must have shape ({m}, r) to match h, got {U.shape}")
            if sigma.shape != (U.shape[1],):
                raise ValueError(f"Quadratic: sigma must have shape ({U.shape[1]},) to match U, got {sigma.shape}")
            check_finite("Quadratic", U, sigma)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "h", np.ascontiguousarray(h))
        object.__setattr__(self, "J", J)
        object.__setattr__(self, "U", U)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "sparse", sparse)
        object.__setattr__(self, "_kernel_csr", None)  # a sparse dense J's CSR, built on first search

    @classmethod
    def low_rank(cls, c, h, U, sigma) -> Quadratic:
        """The low-rank form ``c + h·x + Σ_k σ_k (U[:, k]·x)²``."""
        return cls(c, h, None, U=U, sigma=sigma)

    @classmethod
    def from_symmetric(cls, c, h, J) -> Quadratic:
        """The dense form with ``J`` kept as given, without a copy: for callers that build ``J``
        float64, C-contiguous, symmetric, with a zero diagonal and finite, and don't want to pay for
        checking it (at m = 1024 the checks and the symmetrising copy cost more than a search of
        10⁴ evaluations). Only the shapes are checked."""
        h = np.ascontiguousarray(h, dtype=np.float64)
        if h.ndim != 1 or not isinstance(J, np.ndarray) or J.dtype != np.float64 or J.shape != (h.shape[0],) * 2 \
                or not J.flags.c_contiguous:
            raise ValueError("Quadratic.from_symmetric: need h (m,) and a C-contiguous float64 J (m, m)")
        q = cls.__new__(cls)
        for name, value in (("c", float(c)), ("h", h), ("J", J), ("U", None), ("sigma", None), ("sparse", None),
                            ("_kernel_csr", None)):
            object.__setattr__(q, name, value)
        return q

    @classmethod
    def from_edges(cls, c, h, rows, cols, values) -> Quadratic:
        """The sparse form ``c + h·x + Σ_e values_e x_{rows_e} x_{cols_e}``: the entries of ``J`` in
        ``xᵀJx``, in any order, either triangle or both. Entries repeated at the same place add up
        (``J[i, j]`` and ``J[j, i]`` are one coupling); a diagonal entry (``rows_e == cols_e``) is an
        error, as are indices outside ``0..m-1``. Memory O(m + edges): ``J`` is never built."""
        h = np.asarray(h, dtype=np.float64)
        if h.ndim != 1:
            raise ValueError(f"Quadratic.from_edges: h must be a vector, got shape {h.shape}")
        return cls(c, h, sparse=csr_from_entries(h.shape[0], rows, cols, values, "Quadratic.from_edges"))

    @classmethod
    def from_factors(cls, c, h, U, sigma) -> Quadratic:
        """``c + h·x + Σ_k σ_k (U[:, k]·x)²`` in the cheaper storage form for search.

        Dense when ``5r > m`` and building it is cheap (``m²r ≤ DENSE_BUILD_MAX``), low rank otherwise.
        Per annealing proposal the dense form costs O(1) plus an O(m) update for the quarter or so
        of proposals that are accepted; the low-rank form costs O(r) for every proposal and every
        update; they break even near ``r = m/5``. But building the dense matrix costs ``m²r``, once
        per landscape, that is once per decision: at m = 1024, r = 256 about 60 ms, where a whole
        anneal of 10⁴ proposals on the factors took about 12 ms. Memory follows: ``m²`` floats dense
        against ``3mr`` low rank.
        """
        U = np.asarray(U, dtype=np.float64)
        sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
        m = np.asarray(h).shape[0]
        if U.ndim != 2 or U.shape[0] != m:
            raise ValueError(f"Quadratic.from_factors: U must have shape ({m}, r) to match h, got {U.shape}")
        if 5 * U.shape[1] <= m or m * m * U.shape[1] > DENSE_BUILD_MAX:
            return cls.low_rank(c, h, U, sigma)
        return cls(c, h, (U * sigma) @ U.T)

    @property
    def m(self) -> int:
        """Number of binary variables."""
        return self.h.shape[0]

    @property
    def rank(self) -> int:
        return 0 if self.U is None else self.U.shape[1]

    @property
    def form(self) -> str:
        """``"dense"``, ``"sparse"``, ``"low-rank"``, ``"dense+low-rank"`` or ``"linear"``: how it is stored."""
        parts = [name for name, on in (("dense", self.J is not None), ("sparse", self.sparse is not None),
                                       ("low-rank", self.U is not None)) if on]
        return "+".join(parts) or "linear"

    @property
    def nbytes(self) -> int:
        arrays = (self.h, self.J, self.U, self.sigma, *(self.sparse or ()))
        return sum(a.nbytes for a in arrays if a is not None)

    def __call__(self, x) -> np.ndarray | float:
        """Evaluate at one binary vector ``(m,)`` or a batch ``(..., m)`` (numpy)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.m:
            raise ValueError(f"Quadratic: expected actions with last dimension {self.m}, got {x.shape}")
        value = self.c + x @ self.h
        if self.J is not None:
            value = value + np.einsum("...i,...i->...", x @ self.J, x)
        if self.sparse is not None:
            flat = np.ascontiguousarray(x.reshape(-1, self.m))
            pairs = np.empty(flat.shape[0])
            _csr_pair_values(*self.sparse, flat, pairs)
            value = value + pairs.reshape(x.shape[:-1])
        if self.U is not None:
            value = value + ((x @ self.U) ** 2) @ self.sigma
        return float(value) if x.ndim == 1 else value

    def dense(self) -> Quadratic:
        """The same function with every pairwise term in a dense ``J`` (O(m²) memory)."""
        J = np.zeros((self.m, self.m)) if self.J is None else self.J.copy()
        if self.sparse is not None:
            indptr, indices, data = self.sparse
            J[np.repeat(np.arange(self.m), np.diff(indptr)), indices] = data
        if self.U is not None:
            J += (self.U * self.sigma) @ self.U.T
        return Quadratic(self.c, self.h, J)

    def pairwise_csr(self) -> CSR | None:
        """The pairwise terms as a :class:`CSR` when they are stored sparse, or stored dense with at
        most :data:`SPARSE_MAX_DENSITY` nonzeros (from ``m ≥`` :data:`SPARSE_MIN_M`, without low-rank
        factors); None otherwise. This is the form search runs on; it is built once per landscape."""
        if self.sparse is not None:
            return self.sparse
        if self.J is None or self.U is not None or self.m < SPARSE_MIN_M:
            return None
        if self._kernel_csr is None:
            J = self.J
            if np.count_nonzero(J) > SPARSE_MAX_DENSITY * J.size:
                object.__setattr__(self, "_kernel_csr", False)
            else:
                rows, cols = np.nonzero(J)  # row-major: sorted rows, sorted columns within a row
                indptr = np.zeros(self.m + 1, dtype=np.int64)
                np.cumsum(np.bincount(rows, minlength=self.m), out=indptr[1:])
                csr = CSR(indptr, cols.astype(np.int64), np.ascontiguousarray(J[rows, cols]))
                object.__setattr__(self, "_kernel_csr", csr)
        return self._kernel_csr or None

    def flip_bounds(self) -> np.ndarray:
        """``B_i``: no single flip of bit ``i`` changes ``f`` by more, from any ``x``."""
        bounds = np.abs(self.h).copy()
        if self.J is not None:
            bounds += 2.0 * np.abs(self.J).sum(axis=1)
        if self.sparse is not None:
            bounds += 2.0 * self._row_sums(np.abs(self.sparse.data))
        if self.U is not None:
            reach = np.abs(self.U).sum(axis=0)  # max |p_k| over all x
            bounds += (np.abs(self.U) * np.abs(self.sigma)) @ (2.0 * reach) + (self.U**2) @ np.abs(self.sigma)
        return bounds

    def corner_deltas(self) -> np.ndarray:
        """Single-flip deltas at ``x = 0`` and at ``x = 1``, ``(2, m)``."""
        at0 = self.h.copy()
        at1 = self.h.copy()
        if self.J is not None:
            at1 += 2.0 * self.J.sum(axis=1)
        if self.sparse is not None:
            at1 += 2.0 * self._row_sums(self.sparse.data)
        if self.U is not None:
            q = (self.U**2) @ self.sigma
            p1 = self.U.sum(axis=0)
            at0 += q
            at1 += 2.0 * (self.U * self.sigma) @ p1 - q
        return np.stack([at0, -at1])

    def _row_sums(self, values) -> np.ndarray:
        """Per row of the sparse couplings, the sum of ``values`` (one per stored coupling)."""
        rows = np.repeat(np.arange(self.m), np.diff(self.sparse.indptr))
        return np.bincount(rows, weights=values, minlength=self.m)

    def kernel_data(self) -> DenseData | SparseData | LowRankData:
        """The kernels' form: sparse when :meth:`pairwise_csr` gives one; dense when ``J`` is given (a
        low-rank part is then folded into it); low rank otherwise (also for a linear function, with
        rank 0)."""
        csr = self.pairwise_csr()
        if csr is not None:
            return SparseData(self.c, kernel_array(self.h), *(kernel_array(a) for a in csr))
        if self.J is not None:
            dense = self.dense() if self.U is not None else self
            return DenseData(dense.c, kernel_array(dense.h), kernel_array(dense.J))
        m = self.m
        U = np.zeros((m, 0)) if self.U is None else kernel_array(self.U)
        sigma = np.zeros(0) if self.sigma is None else kernel_array(self.sigma)
        return LowRankData(self.c, kernel_array(self.h), U, np.ascontiguousarray(U * sigma), (U**2) @ sigma, sigma)

    def kernel_aux(self) -> tuple:
        """Buffers for the kernels: the fields ``g = h + 2Jx`` ``(m,)`` and scratch ``(m,)`` (dense,
        sparse) or the projections ``p = Uᵀx`` ``(r,)`` (low rank)."""
        if self.J is not None or self.sparse is not None:
            g, scratch = np.zeros((2, self.m))  # one allocation; each row is C-contiguous
            return g, scratch
        return (np.zeros(self.rank),)


def csr_from_entries(m, rows, cols, values, name="Quadratic") -> CSR:
    """The symmetric :class:`CSR` of ``xᵀJx`` for the entries ``J[rows_e, cols_e] += values_e``:
    each entry is split evenly between ``(i, j)`` and ``(j, i)``, repeats add up, zeros are dropped."""
    rows = np.asarray(rows).reshape(-1)
    cols = np.asarray(cols).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not (rows.shape == cols.shape == values.shape):
        raise ValueError(f"{name}: rows, cols and values must have the same length, got "
                         f"{rows.shape[0]}, {cols.shape[0]} and {values.shape[0]}")
    for label, idx in (("rows", rows), ("cols", cols)):
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= m):
            raise ValueError(f"{name}: {label} must be integer indices in 0..{m - 1}")
    check_finite(name, values)
    loops = np.flatnonzero(rows == cols)
    if loops.size:
        raise ValueError(f"{name}: entry {int(loops[0])} couples bit {int(rows[loops[0]])} with itself; "
                         "put self-terms in h (x_i² = x_i)")
    lo = np.minimum(rows, cols).astype(np.int64)
    hi = np.maximum(rows, cols).astype(np.int64)
    pairs, inverse = np.unique(lo * m + hi, return_inverse=True)  # one sum per coupling: exactly symmetric
    summed = 0.5 * np.bincount(inverse.reshape(-1), weights=values, minlength=pairs.shape[0])
    keep = summed != 0.0
    pairs, summed = pairs[keep], summed[keep]
    r = np.concatenate([pairs // m, pairs % m])
    k = np.concatenate([pairs % m, pairs // m])
    order = np.lexsort((k, r))  # by row, then column
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=m), out=indptr[1:])
    return CSR(indptr, np.ascontiguousarray(k[order]), np.ascontiguousarray(np.concatenate([summed, summed])[order]))


def _check_csr(csr, m) -> CSR:
    """``csr`` as a :class:`CSR` of int64/float64 arrays, checked: ``m + 1`` row pointers, sorted unique
    column indices in range, no diagonal, finite and symmetric values."""
    try:
        indptr, indices, data = csr
    except (TypeError, ValueError):
        raise ValueError("Quadratic: sparse must be a CSR (indptr, indices, data)") from None
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    data = np.ascontiguousarray(data, dtype=np.float64)
    if indptr.shape != (m + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != indices.shape[0]:
        raise ValueError(f"Quadratic: sparse.indptr must rise from 0 to len(indices) in {m + 1} entries")
    if data.shape != indices.shape:
        raise ValueError("Quadratic: sparse.indices and sparse.data must have the same length")
    check_finite("Quadratic", data)
    rows = np.repeat(np.arange(m), np.diff(indptr))
    if indices.size:
        if indices.min() < 0 or indices.max() >= m:
            raise ValueError(f"Quadratic: sparse.indices must lie in 0..{m - 1}")
        if np.any(rows == indices):
            raise ValueError("Quadratic: sparse couplings must have no diagonal; put self-terms in h")
        same_row = rows[1:] == rows[:-1]
        if np.any(same_row & (indices[1:] <= indices[:-1])):
            raise ValueError("Quadratic: sparse.indices must be sorted and unique within each row")
        order = np.lexsort((rows, indices))  # the transpose's entries, in row-major order
        if not (np.array_equal(indices[order], rows) and np.array_equal(rows[order], indices)
                and np.array_equal(data[order], data)):
            raise ValueError("Quadratic: sparse couplings must be symmetric (use Quadratic.from_edges)")
    return CSR(indptr, indices, data)


@njit
def _csr_pair_values(indptr, indices, data, X, out):
    """``out[b] = X[b]ᵀ J X[b]`` for the CSR ``J``, rows of ``X`` float64 0/1 vectors."""
    for b in range(X.shape[0]):
        total = 0.0
        for i in range(X.shape[1]):
            if X[b, i] != 0.0:
                row = 0.0
                for p in range(indptr[i], indptr[i + 1]):
                    row += data[p] * X[b, indices[p]]
                total += X[b, i] * row
        out[b] = total


# Hot-path functions read every array they need from the data tuples once, at the top, and
# return once, at the end. They are ``jitable``: compiled inside the calling kernel.


@jitable
def _dense_value(D, aux, x):
    """``f(x)`` from ``t = Jx``, built in the scratch ``aux[1]`` by adding the set bits' rows (vector
    adds; a row-by-row dot product is one serial chain of m² adds, 4 µs at m = 64)."""
    h, J, t = D.h, D.J, aux[1]
    m = x.shape[0]
    for i in range(m):
        t[i] = 0.0
    for j in range(m):
        if x[j]:
            for i in range(m):
                t[i] += J[j, i]  # J is symmetric: row j is column j
    total = D.c
    for i in range(m):
        if x[i]:
            total += h[i] + t[i]
    return total


@jitable
def _dense_reset(D, aux, x):
    """The fields ``g = h + 2Jx``; returns ``f(x)``."""
    g = aux[0]
    h, J = D.h, D.J
    m = x.shape[0]
    for i in range(m):
        g[i] = h[i]
    for j in range(m):
        if x[j]:
            for i in range(m):
                g[i] += 2.0 * J[j, i]  # J is symmetric: read row j, contiguous
    return _value_from_fields(D.c, h, g, x)


@jitable
def _value_from_fields(c, h, g, x):
    """``f(x)`` from the fields ``g = h + 2Jx`` in O(m): ``xᵀJx = Σ_i x_i (g_i − h_i)/2``."""
    total = c
    for i in range(x.shape[0]):
        if x[i]:
            total += 0.5 * (h[i] + g[i])
    return total


@jitable
def _dense_delta(D, aux, x, f, i, j):
    g = aux[0]
    J = D.J
    si = 1.0 - 2.0 * x[i]
    d = si * g[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        d += sj * g[j] + 2.0 * si * sj * J[i, j]
    return d


@jitable
def _dense_commit(D, aux, x, i, j):
    g = aux[0]
    J = D.J
    m = g.shape[0]
    di = 2.0 - 4.0 * x[i]
    if j >= 0:
        dj = 2.0 - 4.0 * x[j]
        for t in range(m):
            g[t] += di * J[i, t] + dj * J[j, t]  # J is symmetric: read rows, contiguous
        x[j] = 1 - x[j]
    else:
        for t in range(m):
            g[t] += di * J[i, t]
    x[i] = 1 - x[i]


@jitable
def _sparse_value(D, aux, x):
    h, indptr, indices, data = D.h, D.indptr, D.indices, D.data
    total = D.c
    for i in range(x.shape[0]):
        if x[i]:
            row = h[i]
            for p in range(indptr[i], indptr[i + 1]):
                row += data[p] * x[indices[p]]
            total += row
    return total


@jitable
def _sparse_reset(D, aux, x):
    """The fields ``g = h + 2Jx`` from the set bits' rows; returns ``f(x)``."""
    g = aux[0]
    h, indptr, indices, data = D.h, D.indptr, D.indices, D.data
    m = x.shape[0]
    for i in range(m):
        g[i] = h[i]
    for j in range(m):
        if x[j]:
            for p in range(indptr[j], indptr[j + 1]):
                g[indices[p]] += 2.0 * data[p]  # J is symmetric: row j is column j
    return _value_from_fields(D.c, h, g, x)


@jitable
def _csr_entry(indptr, indices, data, i, j):
    """``J[i, j]``: a binary search of row ``i``'s sorted column indices."""
    lo = indptr[i]
    hi = indptr[i + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        col = indices[mid]
        if col < j:
            lo = mid + 1
        elif col > j:
            hi = mid
        else:
            return data[mid]
    return 0.0


@jitable
def _sparse_delta(D, aux, x, f, i, j):
    g = aux[0]
    si = 1.0 - 2.0 * x[i]
    d = si * g[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        d += sj * g[j] + 2.0 * si * sj * _csr_entry(D.indptr, D.indices, D.data, i, j)
    return d


@jitable
def _sparse_commit(D, aux, x, i, j):
    g = aux[0]
    indptr, indices, data = D.indptr, D.indices, D.data
    di = 2.0 - 4.0 * x[i]
    for p in range(indptr[i], indptr[i + 1]):
        g[indices[p]] += di * data[p]
    if j >= 0:
        dj = 2.0 - 4.0 * x[j]
        for p in range(indptr[j], indptr[j + 1]):
            g[indices[p]] += dj * data[p]
        x[j] = 1 - x[j]
    x[i] = 1 - x[i]


@jitable
def _lowrank_value(D, aux, x):
    h, U, sigma = D.h, D.U, D.sigma
    m = x.shape[0]
    total = D.c
    for i in range(m):
        if x[i]:
            total += h[i]
    for k in range(U.shape[1]):
        p = 0.0
        for i in range(m):
            if x[i]:
                p += U[i, k]
        total += sigma[k] * p * p
    return total


@jitable
def _lowrank_reset(D, aux, x):
    """The projections ``p = Uᵀx``; returns ``f(x)``."""
    p = aux[0]
    U = D.U
    for k in range(p.shape[0]):
        p[k] = 0.0
    for i in range(x.shape[0]):
        if x[i]:
            for k in range(p.shape[0]):
                p[k] += U[i, k]
    total = D.c
    h, sigma = D.h, D.sigma
    for i in range(x.shape[0]):
        if x[i]:
            total += h[i]
    for k in range(p.shape[0]):
        total += sigma[k] * p[k] * p[k]
    return total


@jitable
def _lowrank_delta(D, aux, x, f, i, j):
    # flipping bit i moves p by s_i U_i: f changes by s_i (h_i + 2 W_i·p) + q_i, with W = U σ and
    # q_i = Σ_k σ_k U_ik²; a second flip j then sees p + s_i U_i, hence the cross term
    p = aux[0]
    h, U, W, q = D.h, D.U, D.W, D.q
    r = p.shape[0]
    si = 1.0 - 2.0 * x[i]
    t = 0.0
    for k in range(r):
        t += W[i, k] * p[k]
    d = si * (h[i] + 2.0 * t) + q[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        t = 0.0
        cross = 0.0
        for k in range(r):
            t += W[j, k] * p[k]
            cross += W[i, k] * U[j, k]
        d += sj * (h[j] + 2.0 * t) + q[j] + 2.0 * si * sj * cross
    return d


@jitable
def _lowrank_commit(D, aux, x, i, j):
    p = aux[0]
    U = D.U
    r = p.shape[0]
    si = 1.0 - 2.0 * x[i]
    for k in range(r):
        p[k] += si * U[i, k]
    x[i] = 1 - x[i]
    if j >= 0:
        sj = 1.0 - 2.0 * x[j]
        for k in range(r):
            p[k] += sj * U[j, k]
        x[j] = 1 - x[j]


# =================================================================== MLP


@dataclass(frozen=True, eq=False)
class MLP:
    """A ReLU network ``f(x) = W_L relu(… relu(W_1 x + b_1) …) + b_L`` on the binary encoding ``x``.

    Layers are given as torch's ``nn.Linear`` stores them: ``weights[l]`` is ``(out, in)``. The first
    layer reads the action encoding only (``in = m``): an exporter folds the state's part of the
    first layer into ``biases[0]``. The last layer has one output. ReLU follows every layer but the
    last.

    Local search keeps the first layer's pre-activation ``z = W_1 x + b_1`` and updates it in O(H₁)
    per move (a column of ``W_1`` per changed bit), instead of O((S + m)·H₁) to recompute it; the
    deeper layers are evaluated in full, skipping zero activations.

    Attributes:
        weights: tuple of float64 ``(out_l, in_l)`` matrices; ``in_1 = m``, ``out_L = 1``.
        biases: tuple of float64 ``(out_l,)`` vectors.
    """

    weights: tuple
    biases: tuple

    def __post_init__(self):
        ws = tuple(np.asarray(w, dtype=np.float64) for w in self.weights)
        bs = tuple(np.asarray(b, dtype=np.float64).reshape(-1) for b in self.biases)
        if not ws or len(ws) != len(bs):
            raise ValueError(f"MLP: need one bias per layer and at least one layer, got {len(ws)} and {len(bs)}")
        for index, (w, b) in enumerate(zip(ws, bs, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(
                    f"MLP: layer {index} has weight {w.shape} and bias {b.shape}; need (out, in) and (out,)"
                )
            if index and w.shape[1] != ws[index - 1].shape[0]:
                raise ValueError(
                    f"MLP: layer {index} takes {w.shape[1]} inputs but layer {index - 1} gives {ws[index - 1].shape[0]}"
                )
            check_finite("MLP", w, b)
        if ws[-1].shape[0] != 1:
            raise ValueError(f"MLP: the last layer must have one output, got {ws[-1].shape[0]}")
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "biases", bs)

    @property
    def m(self) -> int:
        return self.weights[0].shape[1]


    def __call__(self, x) -> np.ndarray | float:
        """Evaluate at one binary vector ``(m,)`` or a batch ``(..., m)`` (numpy)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.m:
            raise ValueError(f"MLP: expected actions with last dimension {self.m}, got {x.shape}")
        a = x
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            a = a @ w.T + b
            if index < len(self.weights) - 1:
                a = np.maximum(a, 0.0)
        value = a[..., 0]
        return float(value) if x.ndim == 1 else value

    def kernel_data(self) -> MLPData:
        ws, bs = self.weights, self.biases
        if len(ws) == 1:  # a linear function: one identity ReLU-free layer after it is not needed
            rest_w, rest_b, dims = np.zeros(0), np.zeros(0), np.array([1], dtype=np.int64)
        else:
            rest_w = np.concatenate([np.ascontiguousarray(w.T).reshape(-1) for w in ws[1:]])
            rest_b = np.concatenate(bs[1:])
            dims = np.array([w.shape[0] for w in ws], dtype=np.int64)
        return MLPData(kernel_array(np.ascontiguousarray(ws[0].T)), kernel_array(bs[0]), rest_w, rest_b, dims)

    def kernel_aux(self) -> tuple:
        """Buffers for the kernels: the first layer's pre-activation, a candidate's, and scratch."""
        hidden = self.weights[0].shape[0]
        width = max(w.shape[0] for w in self.weights)
        return (np.zeros(hidden), np.zeros(hidden), np.zeros(width), np.zeros(width))



@jitable
def _mlp_rest(D, z, a, out):
    """The network above the first layer, from its pre-activation ``z``; ``a``, ``out`` are scratch."""
    dims, weights, biases = D.dims, D.weights, D.biases
    layers = dims.shape[0]
    result = z[0]  # a single linear layer
    if layers > 1:
        for t in range(dims[0]):
            a[t] = z[t] if z[t] > 0.0 else 0.0
        woff = 0
        boff = 0
        for layer in range(1, layers):
            n_in = dims[layer - 1]
            n_out = dims[layer]
            for o in range(n_out):
                out[o] = biases[boff + o]
            for k in range(n_in):
                ak = a[k]
                if ak != 0.0:  # ReLU zeros cost nothing
                    # a slice per weight row: indexing the flat array with a computed offset kept a
                    # negative-index check in the loop and stopped it vectorising (4× slower)
                    row = weights[woff + k * n_out : woff + (k + 1) * n_out]
                    for o in range(n_out):
                        out[o] += ak * row[o]
            woff += n_in * n_out
            boff += n_out
            if layer < layers - 1:
                for o in range(n_out):
                    a[o] = out[o] if out[o] > 0.0 else 0.0
        result = out[0]
    return result


@jitable
def _mlp_first(D, x, z):
    W1T, b1 = D.W1T, D.b1
    for t in range(z.shape[0]):
        z[t] = b1[t]
    for i in range(x.shape[0]):
        if x[i]:
            for t in range(z.shape[0]):
                z[t] += W1T[i, t]


@jitable
def _mlp_value(D, aux, x):
    z, zc, a, out = aux
    _mlp_first(D, x, zc)
    return _mlp_rest(D, zc, a, out)


@jitable
def _mlp_reset(D, aux, x):
    """The first layer's pre-activation ``z`` for ``x``; returns ``f(x)``."""
    z, zc, a, out = aux
    _mlp_first(D, x, z)
    for t in range(z.shape[0]):
        zc[t] = z[t]
    return _mlp_rest(D, zc, a, out)


@jitable
def _mlp_delta(D, aux, x, f, i, j):
    z, zc, a, out = aux
    W1T = D.W1T
    si = 1.0 - 2.0 * x[i]
    if j < 0:
        for t in range(z.shape[0]):
            zc[t] = z[t] + si * W1T[i, t]
    else:
        sj = 1.0 - 2.0 * x[j]
        for t in range(z.shape[0]):
            zc[t] = z[t] + si * W1T[i, t] + sj * W1T[j, t]
    return _mlp_rest(D, zc, a, out) - f


@jitable
def _mlp_commit(D, aux, x, i, j):
    z = aux[0]
    W1T = D.W1T
    si = 1.0 - 2.0 * x[i]
    if j < 0:
        for t in range(z.shape[0]):
            z[t] += si * W1T[i, t]
    else:
        sj = 1.0 - 2.0 * x[j]
        for t in range(z.shape[0]):
            z[t] += si * W1T[i, t] + sj * W1T[j, t]
        x[j] = 1 - x[j]
    x[i] = 1 - x[i]


# =================================================================== jitted objective


@numba.njit
def _no_delta(x, aux, params, i, j):
    return 0.0


@numba.njit
def _no_update(x, aux, params, i, j):
    return None


@numba.njit
def _no_init(x, aux, params):
    return None


@dataclass(frozen=True, eq=False)
class Objective:
    """A numba-jitted objective ``value(x, params) -> float`` on the int8 encoding ``x``.

    For non-quadratic rewards (knapsack with a capacity, slate choice models). Without ``delta``,
    every proposal costs one full ``value`` call. With the incremental triple, local search runs in
    the objective's own delta cost:

    - ``init(x, aux, params)``: fill ``aux`` (float64 ``(aux_size,)``) for state ``x``;
    - ``delta(x, aux, params, i, j) -> float``: ``f(x') − f(x)`` for flipping bit ``i`` and, if
      ``j ≥ 0``, bit ``j``;
    - ``update(x, aux, params, i, j)``: update ``aux`` for that move; called *before* the bits of
      ``x`` flip.

    All must be ``numba.njit`` functions. Kernels that use an objective compile once per process
    for its functions (they cannot be cached across processes).

    Attributes:
        value, delta, update, init: the functions above (``delta``, ``update``, ``init``: optional,
            all three or none).
        params: a tuple of numpy arrays (or scalars) passed to every call.
        m: the encoding length.
        aux_size: length of ``aux``.
    """

    value: object
    m: int
    params: tuple = ()
    delta: object = None
    update: object = None
    init: object = None
    aux_size: int = 0

    def __post_init__(self):
        given = [f is not None for f in (self.delta, self.update, self.init)]
        if any(given) and not all(given):
            raise ValueError("Objective: give delta, update and init together, or none of them")
        for name in ("value", "delta", "update", "init"):
            fn = getattr(self, name)
            if fn is not None and not isinstance(fn, numba.core.registry.CPUDispatcher):
                raise ValueError(f"Objective: {name} must be a numba.njit function, got {type(fn).__name__}")
        if isinstance(self.m, bool) or not isinstance(self.m, (int, np.integer)) or self.m < 1:
            raise ValueError(f"Objective: m must be a positive integer, got {self.m!r}")
        if not isinstance(self.params, tuple):
            object.__setattr__(self, "params", tuple(self.params))

    def __call__(self, x) -> np.ndarray | float:
        X = np.asarray(x, dtype=np.int8)
        if X.shape[-1] != self.m:
            raise ValueError(f"Objective: expected actions with last dimension {self.m}, got {X.shape}")
        flat = np.ascontiguousarray(X.reshape(-1, self.m))
        values = np.array([self.value(row, self.params) for row in flat], dtype=np.float64)
        return float(values[0]) if X.ndim == 1 else values.reshape(X.shape[:-1])

    def kernel_data(self) -> ObjData:
        has = self.delta is not None
        return ObjData(
            self.value,
            self.delta if has else _no_delta,
            self.update if has else _no_update,
            self.init if has else _no_init,
            self.params,
            has,
            int(self.aux_size),
        )

    def kernel_aux(self) -> tuple:
        """Buffers for the kernels: the objective's incremental state ``(aux_size,)``."""
        return (np.zeros(self.aux_size),)



@jitable
def _obj_value(D, aux, x):
    return D.value(x, D.params)


@jitable
def _obj_reset(D, aux, x):
    state = aux[0]
    params = D.params
    if D.has_delta:
        D.init(x, state, params)
    return D.value(x, params)


@jitable
def _obj_delta(D, aux, x, f, i, j):
    state = aux[0]
    params = D.params
    if D.has_delta:
        d = D.delta(x, state, params, i, j)
    else:
        x[i] = 1 - x[i]
        if j >= 0:
            x[j] = 1 - x[j]
        d = D.value(x, params) - f
        x[i] = 1 - x[i]
        if j >= 0:
            x[j] = 1 - x[j]
    return d


@jitable
def _obj_commit(D, aux, x, i, j):
    state = aux[0]
    params = D.params
    if D.has_delta:
        D.update(x, state, params, i, j)
    x[i] = 1 - x[i]
    if j >= 0:
        x[j] = 1 - x[j]


# =================================================================== batch callable


@dataclass(frozen=True, eq=False)
class Batch:
    """Any function of a batch of encodings: ``fn(X int8 (B, m)) -> float64 (B,)`` (a torch net, a
    simulator). Only the sampling methods (``random``, ``cem``, ``beam``) can search it; they call
    ``fn`` in batches from Python."""

    fn: object
    m: int

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError("Batch: fn must be callable")
        if isinstance(self.m, bool) or not isinstance(self.m, (int, np.integer)) or self.m < 1:
            raise ValueError(f"Batch: m must be a positive integer, got {self.m!r}")

    def __call__(self, x) -> np.ndarray | float:
        X = np.asarray(x, dtype=np.int8)
        flat = np.ascontiguousarray(X.reshape(-1, self.m))
        values = np.asarray(self.fn(flat), dtype=np.float64).reshape(-1)
        if values.shape[0] != flat.shape[0]:
            raise ValueError(f"Batch: fn returned {values.shape[0]} values for {flat.shape[0]} actions")
        return float(values[0]) if X.ndim == 1 else values.reshape(X.shape[:-1])


LANDSCAPES = (Quadratic, MLP, Objective, Batch)
JITTED = (Quadratic, MLP, Objective)


# =================================================================== generic operations
#
# Kernels reach a landscape through its ``kernel_data()`` tuple ``D`` and its ``kernel_aux()``
# buffers ``aux``. Each operation is resolved at compile time from the type of ``D``; the overload
# returns the implementation itself, so it compiles inside the kernel.


def ls_value(D, aux, x):
    """``f(x)``; may use ``aux``'s scratch but keeps the incremental state."""
    raise NotImplementedError("ls_value is only callable from jitted code")


def ls_reset(D, aux, x):
    """Set the incremental state ``aux`` for ``x`` and return ``f(x)``."""
    raise NotImplementedError("ls_reset is only callable from jitted code")


def ls_delta(D, aux, x, f, i, j):
    """``f(x') − f(x)`` for flipping bit ``i`` (and ``j`` when ``j ≥ 0``); ``f`` is ``f(x)``."""
    raise NotImplementedError("ls_delta is only callable from jitted code")


def ls_commit(D, aux, x, i, j):
    """Flip bit ``i`` (and ``j`` when ``j ≥ 0``) of ``x``, updating ``aux``."""
    raise NotImplementedError("ls_commit is only callable from jitted code")


def _is(typ, cls) -> bool:
    return isinstance(typ, types.BaseNamedTuple) and typ.instance_class is cls


_IMPLS = {
    DenseData: {"value": _dense_value, "reset": _dense_reset, "delta": _dense_delta, "commit": _dense_commit},
    SparseData: {"value": _sparse_value, "reset": _sparse_reset, "delta": _sparse_delta, "commit": _sparse_commit},
    LowRankData: {"value": _lowrank_value, "reset": _lowrank_reset, "delta": _lowrank_delta, "commit": _lowrank_commit},
    MLPData: {"value": _mlp_value, "reset": _mlp_reset, "delta": _mlp_delta, "commit": _mlp_commit},
    ObjData: {"value": _obj_value, "reset": _obj_reset, "delta": _obj_delta, "commit": _obj_commit},
}


def _impl(D, op):
    for cls, impls in _IMPLS.items():
        if _is(D, cls):
            return impls[op]
    return None


def ls_nth(BD, b):
    """Landscape ``b``'s kernel data, as views into the stacked data ``BD``."""
    raise NotImplementedError("ls_nth is only callable from jitted code")


@jitable
def _nth_dense(BD, b):
    return DenseData(BD.c[b], BD.h[b], BD.J[b])


@jitable
def _nth_sparse(BD, b):
    return SparseData(BD.c[b], BD.h[b], BD.indptr[b], BD.indices, BD.data)


@jitable
def _nth_low_rank(BD, b):
    return LowRankData(BD.c[b], BD.h[b], BD.U[b], BD.W[b], BD.q[b], BD.sigma[b])


@jitable
def _nth_mlp(BD, b):
    # a single row is shared by the whole batch (search.MLPStack: the deeper layers, maybe the first)
    first = min(b, BD.W1T.shape[0] - 1)
    rest = min(b, BD.weights.shape[0] - 1)
    return MLPData(BD.W1T[first], BD.b1[b], BD.weights[rest], BD.biases[rest], BD.dims)


_NTH = {DenseBatch: _nth_dense, SparseBatch: _nth_sparse, LowRankBatch: _nth_low_rank, MLPBatch: _nth_mlp}


@overload(ls_nth)
def _ov_nth(BD, b):
    for cls, impl in _NTH.items():
        if _is(BD, cls):
            return impl
    return None


@overload(ls_value)
def _ov_value(D, aux, x):
    return _impl(D, "value")


@overload(ls_reset)
def _ov_reset(D, aux, x):
    return _impl(D, "reset")


@overload(ls_delta)
def _ov_delta(D, aux, x, f, i, j):
    return _impl(D, "delta")


@overload(ls_commit)
def _ov_commit(D, aux, x, i, j):
    return _impl(D, "commit")


def stack_kernel_data(landscapes) -> tuple | None:
    """``(BD, key)``: the kernel data of ``landscapes`` stacked into one batch tuple, and the batch's
    key; None when they don't share one form and shape (or are not Quadratics and MLPs). Copies every
    array once; a stack (:mod:`search.stacks`) gives its own. The buffers come from any one landscape's
    ``kernel_aux()``."""
    kernel_batch = getattr(landscapes, "kernel_batch", None)
    if kernel_batch is not None:
        return kernel_batch()
    if not landscapes or not all(isinstance(q, (Quadratic, MLP)) for q in landscapes):
        return None
    datas = [kernel_args(q)[0] for q in landscapes]
    cls = type(datas[0])
    if any(type(d) is not cls for d in datas):
        return None
    first = datas[0]
    if cls is SparseData:  # one array of couplings; each landscape's row pointers offset into it
        if any(d.h.shape != first.h.shape for d in datas):
            return None
        starts = np.cumsum([0] + [d.indices.shape[0] for d in datas[:-1]])
        BD = SparseBatch(np.array([d.c for d in datas]), np.stack([d.h for d in datas]),
                         np.stack([d.indptr + o for d, o in zip(datas, starts, strict=True)]),
                         np.concatenate([d.indices for d in datas]), np.concatenate([d.data for d in datas]))
    else:
        fields = list(first._fields)
        shared = ("dims",) if cls is MLPData else ()
        for name in fields:
            if name in shared or name == "c":
                continue
            if any(getattr(d, name).shape != getattr(first, name).shape for d in datas):
                return None
        if cls is MLPData and any(not np.array_equal(d.dims, first.dims) for d in datas):
            return None
        batch_cls = {DenseData: DenseBatch, LowRankData: LowRankBatch, MLPData: MLPBatch}[cls]
        parts = []
        for name in fields:
            if name == "c":
                parts.append(np.array([d.c for d in datas], dtype=np.float64))
            elif name in shared:
                parts.append(first.dims)
            else:
                parts.append(np.stack([getattr(d, name) for d in datas]))
        BD = batch_cls(*parts)
    return BD, type(BD).__name__


def slice_batch(BD, lo: int, hi: int):
    """Landscapes ``lo..hi-1`` of the stacked data ``BD`` (views; a sparse batch keeps its couplings
    whole, its row pointers are absolute)."""
    if isinstance(BD, SparseBatch):
        return SparseBatch(BD.c[lo:hi], BD.h[lo:hi], BD.indptr[lo:hi], BD.indices, BD.data)
    if isinstance(BD, MLPBatch):
        def rows(a):  # a single row is shared by the whole batch: keep it
            return a if a.shape[0] == 1 < BD.b1.shape[0] else a[lo:hi]

        return MLPBatch(rows(BD.W1T), BD.b1[lo:hi], rows(BD.weights), rows(BD.biases), BD.dims)
    return type(BD)(*(a[lo:hi] for a in BD))


def kernel_args(landscape) -> tuple:
    """``(D, aux, key)`` for a kernel call: the landscape's kernel data (built once per landscape
    object and kept on it), fresh buffers, and a key that determines the data's numba types (see
    :func:`search.jit.kernel`): the data's class for a Quadratic or an MLP, whose arrays are
    float64 or int64, C-contiguous and writeable by construction; the full argument key for an
    Objective, whose parameters are the user's."""
    cached = landscape.__dict__.get("_kernel_args")
    if cached is None:
        data = landscape.kernel_data()
        key = type(data).__name__ if isinstance(landscape, (Quadratic, MLP)) else arg_key(data)
        cached = (data, key)
        object.__setattr__(landscape, "_kernel_args", cached)
    return cached[0], landscape.kernel_aux(), cached[1]


@kernel
@kernel_doc("The landscape's value at each row of ``X``, into ``out``.")
def _batch_values(D, aux, X, out):
    for b in range(X.shape[0]):
        out[b] = ls_value(D, aux, X[b])


@kernel
@kernel_doc('The values of the actions one move from ``x``, into ``out`` (from move deltas).')
def _move_values(D, aux, x, off, on, out):
    f = ls_reset(D, aux, x)
    for t in range(off.shape[0]):
        out[t] = f + ls_delta(D, aux, x, f, off[t], on[t])


def move_evaluator(landscape):
    """For a jitted landscape, ``move_values(x, off, on) -> values`` of the actions one move from ``x``
    (bit ``off[t]`` flipped and ``on[t]`` too where ≥ 0), from move deltas; None for a Batch."""
    if isinstance(landscape, Batch):
        return None
    data = landscape.kernel_data()
    aux = landscape.kernel_aux()

    def move_values(x, off, on):
        out = np.empty(len(off))
        _move_values(data, aux, np.ascontiguousarray(x, dtype=np.int8), off, on, out)
        return out

    return move_values


def evaluator(landscape):
    """A batch evaluator ``X int8 (B, m) -> float64 (B,)`` for any landscape (for sampling methods).

    Quadratic and MLP landscapes evaluate batches with numpy's matrix products (5–9× faster than a
    per-row loop at m = 1024); an Objective runs its jitted ``value`` per row; a Batch is its own.
    """
    if isinstance(landscape, (Batch, MLP, Quadratic)):
        return landscape
    data = landscape.kernel_data()
    aux = landscape.kernel_aux()

    def evaluate(X):
        X = np.ascontiguousarray(X, dtype=np.int8)
        out = np.empty(X.shape[0])
        _batch_values(data, aux, X, out)
        return out

    return evaluate
