"""standin.search: landscapes (what is maximised) and numba search kernels (how).

Imports only numpy and numba (and, for ``method="exact"``, the optional HiGHS solver).
Entry points: :func:`maximize` and :func:`maximize_batch`.
"""

from standin.search.api import METHODS, OPTIONS, SAMPLING, SearchResult, maximize, maximize_batch, warmup
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
    "warmup",
]
