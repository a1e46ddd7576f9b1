"""standin.search: landscapes (what is maximised) and numba search kernels (how).

Owns: the landscapes (``Quadratic`` dense, sparse or low rank, ``MLP``, ``Objective``, ``Batch``;
``QuadraticStack`` and ``MLPStack`` for a batch of them: landscapes.py, stacks.py); the action
spaces' binary encodings and move sets (spaces.py, moves.py); the methods (exhaustive.py,
sampling.py for random / cem / beam, greedy.py, anneal.py, tabu.py, exact.py) behind one entry point
(api.py: :func:`maximize`, and :func:`maximize_batch` for one landscape per state); the kernels'
shared machinery (jit.py: compilation, keyed calls, the random generator; trace.py).

May import: numpy and numba only (and, for ``method="exact"``, the optional HiGHS solver); nothing
else of standin. It knows no torch and no env: agents export their values as landscapes, and envs
with a known reward give theirs.
"""

from standin.search.api import (
    METHODS,
    OPTIONS,
    SAMPLING,
    SearchResult,
    maximize,
    maximize_batch,
    method_options,
    warmup,
)
from standin.search.landscapes import MLP, Batch, Objective, Quadratic
from standin.search.spaces import Binary, Discrete, KOfN, as_space, log2_size
from standin.search.stacks import MLPStack, QuadraticStack

__all__ = [
    "METHODS",
    "MLP",
    "MLPStack",
    "OPTIONS",
    "SAMPLING",
    "Batch",
    "Binary",
    "Discrete",
    "KOfN",
    "Objective",
    "Quadratic",
    "QuadraticStack",
    "SearchResult",
    "as_space",
    "log2_size",
    "maximize",
    "maximize_batch",
    "method_options",
    "warmup",
]
