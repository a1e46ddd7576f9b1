"""standin.search: landscapes (what is maximised) and numba search kernels (how).

Imports only numpy and numba. Entry point: :func:`maximize`.
"""

from search.api import METHODS, SearchResult, maximize, warmup
from search.landscapes import Quadratic
from search.spaces import Binary, as_space, log2_size

__all__ = ["METHODS", "Binary", "Quadratic", "SearchResult", "as_space", "log2_size", "maximize", "warmup"]
