"""Action spaces as search sees them: a move set and a size, taken from the Gymnasium space.

``search`` does not import Gymnasium; a Gymnasium ``MultiBinary`` is recognised by its type name
and shape, so users pass the environment's ``action_space`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Binary:
    """``{0,1}^n``; the move is a single bit flip."""

    n: int

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"Binary: n must be a positive integer, got {self.n!r}")

    @property
    def log2_size(self) -> float:
        """``log2 |A|``."""
        return float(self.n)


def as_space(space) -> Binary:
    """Convert ``space`` (a Gymnasium ``MultiBinary`` of rank 1, a :class:`Binary`, or an int n)."""
    if isinstance(space, Binary):
        return space
    if isinstance(space, int) and not isinstance(space, bool):
        return Binary(space)
    shape = getattr(space, "shape", None)
    if any(c.__name__ == "MultiBinary" for c in type(space).__mro__) and shape is not None:
        if len(shape) != 1:
            raise ValueError(f"search supports rank-1 MultiBinary spaces, got shape {shape}")
        return Binary(int(shape[0]))
    raise ValueError(f"search does not support the action space {space!r} yet; supported: MultiBinary(n)")


def log2_size(space) -> float:
    """``log2 |A|`` of a supported space (works for sizes far beyond float range)."""
    return as_space(space).log2_size


__all__ = ["Binary", "as_space", "log2_size"]
