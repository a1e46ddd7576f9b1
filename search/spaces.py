"""Action spaces as search sees them: a binary encoding, a move set and a mask.

Every space is searched through a binary encoding ``x ∈ {0,1}^m``:

============== =========================== ==================== =================================
space          action                      encoding ``x``       move (bits of ``x`` changed)
============== =========================== ==================== =================================
``Binary(n)``  int8 ``(n,)`` of 0/1         the action, m = n    flip one bit
``KOfN(n, k)`` int8 ``(n,)``, exactly k 1s  the action, m = n    swap one in-item for one out-item
``Discrete``   int64 ``(C,)``, ``a_c <      one-hot per          change one component:
(nvec)``       nvec_c``                     component, m = Σnvec one bit off, one bit on
============== =========================== ==================== =================================

So every move changes one or two bits of ``x``, and every landscape only needs single- and
two-bit deltas. Every proposal stays feasible: a k-of-N move keeps exactly ``k`` ones, a
component change keeps each one-hot group at one set bit.

Masks use one convention everywhere: ``allowed[i] = 1`` where bit ``i`` of ``x`` may be 1, ``0``
where it must stay 0 (a masked item is never chosen, a masked value never taken). Gymnasium's
``MultiDiscrete`` masks (a tuple of per-component 0/1 arrays) are accepted as they are. Note that
Gymnasium's ``MultiBinary.sample(mask)`` uses another convention (2 = free); search's masks say
only which bits may be set.

``search`` does not import Gymnasium. :func:`as_space` recognises Gymnasium spaces by type name:
``MultiBinary`` of rank 1 (a k-of-N space when it also has an integer attribute ``k``) and
``MultiDiscrete`` of rank 1.
"""

from __future__ import annotations

import functools
import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

FLIP, SWAP, CHANGE = 0, 1, 2

#: The move set in the form the kernels read. ``kind`` is ``FLIP``, ``SWAP`` or ``CHANGE``; ``m``
#: the encoding length; ``k`` the number of ones (``SWAP`` only); ``allowed`` int8 ``(m,)``;
#: ``offsets`` int64 ``(C + 1,)``, the one-hot groups ``[offsets[c], offsets[c+1])`` (``CHANGE``);
#: for ``FLIP`` and ``SWAP`` it is ``[0, m]``.
Moves = namedtuple("Moves", ["kind", "m", "k", "allowed", "offsets"])


def _check_size(name, value, lo):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


class _Space:
    """Shared behaviour; subclasses define ``m``, ``kind``, ``encode``, ``decode`` and ``count``."""

    kind: int

    def allowed(self, mask=None) -> np.ndarray:
        """The mask as int8 ``(m,)`` of 0/1 over the encoding, checked for shape and feasibility."""
        if mask is None:
            allowed = np.ones(self.m, dtype=np.int8)
        else:
            allowed = self._mask_bits(mask)
        self._check_feasible(allowed)
        return allowed

    def _mask_bits(self, mask) -> np.ndarray:
        arr = np.asarray(mask)
        if arr.shape != (self.m,):
            raise ValueError(f"mask for {self} must have shape ({self.m},), got {arr.shape}")
        return _as_01(arr, "mask")

    def _check_feasible(self, allowed) -> None:
        pass

    def moves(self, mask=None) -> Moves:
        """The kernel-side move set under ``mask`` (without one, shared between calls: kernels only
        read it)."""
        if mask is None:
            return _unmasked_moves(self)
        return Moves(self.kind, self.m, getattr(self, "k", 0), self.allowed(mask), self.offsets)

    @property
    def offsets(self) -> np.ndarray:
        return np.array([0, self.m], dtype=np.int64)

    def feasible(self, x, allowed) -> bool:
        """Whether the encoding ``x`` is a feasible action under ``allowed``."""
        x = np.asarray(x)
        return bool(np.isin(x, (0, 1)).all() and not (x.astype(bool) & (allowed == 0)).any())


@dataclass(frozen=True)
class Binary(_Space):
    """``{0,1}^n``; the move flips one bit."""

    n: int
    kind = FLIP

    def __post_init__(self):
        _check_size("Binary: n", self.n, 1)

    @property
    def m(self) -> int:
        return self.n

    @property
    def log2_size(self) -> float:
        """``log2 |A|``."""
        return float(self.n)

    def count(self, allowed) -> int:
        """Number of feasible actions under ``allowed``."""
        return 1 << int(allowed.sum())

    def encode(self, action) -> np.ndarray:
        a = np.asarray(action)
        if a.shape != (self.n,) or not np.isin(a, (0, 1)).all():
            raise ValueError(f"{self}: an action must be a 0/1 vector of shape ({self.n},), got shape {a.shape}")
        return a.astype(np.int8)

    def decode(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.int8).copy()


@dataclass(frozen=True)
class KOfN(_Space):
    """Subsets of exactly ``k`` of ``n`` items, as a 0/1 vector; the move swaps an in-item for an out-item."""

    n: int
    k: int
    kind = SWAP

    def __post_init__(self):
        _check_size("KOfN: n", self.n, 1)
        _check_size("KOfN: k", self.k, 0)
        if self.k > self.n:
            raise ValueError(f"KOfN: k must be in 0..n ({self.n}), got {self.k}")

    @property
    def m(self) -> int:
        return self.n

    @property
    def log2_size(self) -> float:
        return (math.lgamma(self.n + 1) - math.lgamma(self.k + 1) - math.lgamma(self.n - self.k + 1)) / math.log(2)

    def count(self, allowed) -> int:
        return math.comb(int(allowed.sum()), self.k)

    def _check_feasible(self, allowed) -> None:
        if int(allowed.sum()) < self.k:
            raise ValueError(f"{self}: the mask allows {int(allowed.sum())} items, fewer than k = {self.k}")

    def encode(self, action) -> np.ndarray:
        a = np.asarray(action)
        if a.shape != (self.n,) or not np.isin(a, (0, 1)).all() or int(a.sum()) != self.k:
            raise ValueError(f"{self}: an action must be a 0/1 vector of shape ({self.n},) with exactly {self.k} ones")
        return a.astype(np.int8)

    def decode(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.int8).copy()

    def feasible(self, x, allowed) -> bool:
        return super().feasible(x, allowed) and int(np.sum(x)) == self.k


@dataclass(frozen=True)
class Discrete(_Space):
    """``C`` categorical components, component ``c`` in ``0..nvec[c]-1`` (a ``MultiDiscrete``).

    Encoded one-hot per component (``m = Σ nvec``); the move changes one component's value.
    """

    nvec: tuple
    kind = CHANGE

    def __post_init__(self):
        nvec = tuple(int(_check_size("Discrete: nvec entries", v, 1)) for v in np.asarray(self.nvec).reshape(-1))
        if not nvec:
            raise ValueError("Discrete: nvec must have at least one component")
        object.__setattr__(self, "nvec", nvec)

    @property
    def m(self) -> int:
        return int(sum(self.nvec))

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.nvec)]).astype(np.int64)

    @property
    def log2_size(self) -> float:
        return float(sum(math.log2(v) for v in self.nvec))

    def count(self, allowed) -> int:
        off = self.offsets
        return math.prod(int(allowed[off[c] : off[c + 1]].sum()) for c in range(len(self.nvec)))

    def _mask_bits(self, mask) -> np.ndarray:
        if isinstance(mask, (tuple, list)):
            if len(mask) != len(self.nvec):
                raise ValueError(f"mask for {self} must have {len(self.nvec)} components, got {len(mask)}")
            parts = []
            for c, (part, v) in enumerate(zip(mask, self.nvec, strict=True)):
                part = np.asarray(part)
                if part.shape != (v,):
                    raise ValueError(f"mask component {c} for {self} must have shape ({v},), got {part.shape}")
                parts.append(part)
            return _as_01(np.concatenate(parts), "mask")
        arr = np.asarray(mask)
        if arr.ndim == 2 and arr.shape == (len(self.nvec), max(self.nvec)) and len(set(self.nvec)) == 1:
            return _as_01(arr.reshape(-1), "mask")
        return super()._mask_bits(mask)

    def _check_feasible(self, allowed) -> None:
        off = self.offsets
        for c in range(len(self.nvec)):
            if not allowed[off[c] : off[c + 1]].any():
                raise ValueError(f"{self}: the mask allows no value for component {c}")

    def encode(self, action) -> np.ndarray:
        a = np.asarray(action)
        nvec = np.asarray(self.nvec)
        if a.shape != nvec.shape or not np.issubdtype(a.dtype, np.integer) or (a < 0).any() or (a >= nvec).any():
            raise ValueError(
                f"{self}: an action must be integers of shape ({len(self.nvec)},) with 0 <= a[c] < nvec[c]"
            )
        x = np.zeros(self.m, dtype=np.int8)
        x[self.offsets[:-1] + a] = 1
        return x

    def decode(self, x) -> np.ndarray:
        x = np.asarray(x)
        bounds = zip(self.offsets[:-1], self.offsets[1:], strict=True)
        return np.array([int(np.argmax(x[s:e])) for s, e in bounds], dtype=np.int64)

    def feasible(self, x, allowed) -> bool:
        if not super().feasible(x, allowed):
            return False
        return all(int(np.sum(x[s:e])) == 1 for s, e in zip(self.offsets[:-1], self.offsets[1:], strict=True))


@functools.lru_cache(maxsize=64)
def _binary(n: int) -> Binary:
    return Binary(n)


@functools.lru_cache(maxsize=64)
def _unmasked_moves(space) -> Moves:
    return Moves(space.kind, space.m, getattr(space, "k", 0), space.allowed(None), space.offsets)


def _as_01(arr, name) -> np.ndarray:
    if not np.isin(arr, (0, 1)).all():
        bad = sorted(set(np.unique(arr).tolist()) - {0, 1})
        raise ValueError(f"{name} entries must be 0 or 1 (1 = may be set), found {bad}")
    return arr.astype(np.int8)


def as_space(space) -> Binary | KOfN | Discrete:
    """The search-side space for ``space``.

    Accepts a :class:`Binary`, :class:`KOfN` or :class:`Discrete`; an int ``n`` (``Binary(n)``);
    a Gymnasium ``MultiBinary`` of rank 1 (``KOfN`` when it has an integer attribute ``k``); a
    Gymnasium ``MultiDiscrete`` of rank 1; or a Gymnasium ``Discrete(n)`` with start 0, searched as
    ``Discrete((n,))`` (one component: its actions are arrays of length 1).
    """
    if isinstance(space, (Binary, KOfN, Discrete)):
        return space
    if isinstance(space, (int, np.integer)) and not isinstance(space, (bool, np.bool_)):
        return _binary(int(space))
    names = {c.__name__ for c in type(space).__mro__}
    shape = getattr(space, "shape", None)
    if "MultiBinary" in names and shape is not None:
        if len(shape) != 1:
            raise ValueError(f"search supports rank-1 MultiBinary spaces, got shape {shape}")
        k = getattr(space, "k", None)
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            return KOfN(int(shape[0]), int(k))
        return Binary(int(shape[0]))
    if "MultiDiscrete" in names and shape is not None:
        nvec = np.asarray(space.nvec)
        if nvec.ndim != 1:
            raise ValueError(f"search supports rank-1 MultiDiscrete spaces, got nvec of shape {nvec.shape}")
        if np.any(np.asarray(getattr(space, "start", 0)) != 0):
            raise ValueError("search supports MultiDiscrete spaces with start = 0 only")
        return Discrete(tuple(int(v) for v in nvec))
    if "Discrete" in names and isinstance(getattr(space, "n", None), (int, np.integer)):
        if int(getattr(space, "start", 0)) != 0:
            raise ValueError("search supports Discrete spaces with start = 0 only")
        return Discrete((int(space.n),))
    raise ValueError(
        f"search does not support the action space {space!r}; supported: MultiBinary(n), "
        "a k-of-N MultiBinary (with attribute k), MultiDiscrete(nvec), Discrete(n)"
    )


def log2_size(space) -> float:
    """``log2 |A|`` of a supported space (works for sizes far beyond float range)."""
    return as_space(space).log2_size


__all__ = ["CHANGE", "FLIP", "SWAP", "Binary", "Discrete", "KOfN", "Moves", "as_space", "log2_size"]
