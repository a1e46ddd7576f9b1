"""JIT settings and the explicit random-number generator shared by every search kernel.

All kernels are compiled with the flags set here, in one place. ``cache=True`` writes compiled
kernels next to the sources; numba only checks the timestamp of the file that defines a kernel,
so a kernel that calls helpers from another file could load a stale cache after that file
changes. :func:`invalidate_stale_cache` closes that gap: the cache is stamped with a digest of
every source file of the package and cleared whenever any of them changes.

Three decorators:

- :func:`jitable` for the small functions that kernels call in their inner loops (random numbers,
  landscape deltas, moves). They compile inside their caller, with its flags, so they cost no call.
- :func:`kernel` for the search kernels. They run without numba's reference counting
  (``_nrt=False``): a kernel allocates nothing, its buffers come from the Python wrapper. Reading an
  array out of a tuple costs two atomic reference-count operations in numba's default mode, and a
  generic kernel reads many (measured: 150 against 24 ns per annealing proposal at n = 256).
- :func:`njit` for everything else (set-up helpers that allocate).

The generator is xoshiro256** (Blackman & Vigna) over a ``uint64[4]`` state array that the
caller owns, so the same seed gives the same bits on every machine, independent of numpy's or
numba's global random state.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from pathlib import Path

import numba
import numpy as np
from numba.extending import register_jitable

_HERE = Path(__file__).resolve().parent
CACHE = os.environ.get("STANDIN_NUMBA_CACHE", "1") != "0"


def invalidate_stale_cache(package: Path = _HERE, *depends: Path) -> None:
    """Clear ``package``'s numba cache when a source file of it, or of ``depends``, has changed.

    Packages whose kernels inline helpers from this one (the environments' kernels use the random
    numbers below) call it with this package among ``depends``.
    """
    cache_dir = package / "__pycache__"
    digest = hashlib.sha256()
    for folder in (package, *depends):
        for src in sorted(folder.glob("*.py")):
            digest.update(f"{folder.name}/{src.name}".encode())
            digest.update(src.read_bytes())
    stamp = cache_dir / "numba-sources.sha256"
    want = digest.hexdigest()
    try:
        if stamp.read_text() == want:
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for f in list(cache_dir.glob("*.nbi")) + list(cache_dir.glob("*.nbc")):
            f.unlink(missing_ok=True)
        stamp.write_text(want)
    except OSError:  # read-only install: numba then falls back to its own cache locators
        pass


if CACHE:
    invalidate_stale_cache()


def njit(fn=None, **kwargs):
    """``numba.njit`` with the project's flags: nopython, cached, no fastmath (bit-reproducible)."""
    opts = {"cache": CACHE, "nogil": True, "error_model": "numpy"}
    opts.update(kwargs)
    if fn is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(fn)


#: Kernel-data types whose kernels must keep reference counting: they call user functions, which
#: are compiled with the caller's flags and may allocate (see :class:`search.Objective`).
NEEDS_NRT: set = set()


#: Check every keyed call (see :func:`kernel`) against the full argument key; the tests set it.
CHECK_KEYS = os.environ.get("STANDIN_CHECK_KERNEL_KEYS", "0") == "1"


def kernel(fn):
    """A search kernel: :func:`njit` without reference counting, so it must not allocate.

    Kernels take the landscape's data tuple first. For the types in :data:`NEEDS_NRT` the call goes
    to a second compilation with reference counting (not cached: it embeds the user's functions).

    Two ways to call one:

    - ``k(*args)``: the compiled entry point is looked up by :func:`arg_key` of every argument
      (about 15 µs for a search kernel's twenty-odd arrays and tuples).
    - ``k.keyed(key, *args)``: by a key that the caller vouches determines every argument's numba
      type: search builds everything but the landscape's data with fixed types, and a landscape's
      :func:`~search.landscapes.kernel_args` key covers its data. With ``CHECK_KEYS`` every keyed call
      is checked against the full key.
    """
    fast = njit(fn, _nrt=False)
    flexible = njit(fn, cache=False)
    entries: dict = {}  # argument key -> compiled entry point
    vouched: dict = {}  # caller's key -> (full argument key, compiled entry point)

    @functools.wraps(fn)
    def call(*args):
        dispatcher = flexible if type(args[0]) in NEEDS_NRT else fast
        key = arg_key(args)
        entry = entries.get((dispatcher, key)) if key is not None else None
        if entry is not None:
            return entry(*args)
        result = dispatcher(*args)  # numba's own dispatch: compiles or loads on first use
        if key is not None:
            overload = dispatcher.overloads.get(tuple(dispatcher.typeof_pyval(a) for a in args))
            if overload is not None:
                entries[(dispatcher, key)] = overload.entry_point
        return result

    def keyed(key, *args):
        found = vouched.get(key) if key is not None else None
        if found is not None:
            if CHECK_KEYS and arg_key(args) != found[0]:
                raise AssertionError(f"{fn.__name__}: key {key!r} does not determine the argument types")
            return found[1](*args)
        result = call(*args)
        full = arg_key(args) if key is not None else None
        dispatcher = flexible if type(args[0]) in NEEDS_NRT else fast
        entry = entries.get((dispatcher, full)) if full is not None else None
        if entry is not None:
            vouched[key] = (full, entry)
        return result

    call.fast, call.flexible, call.keyed = fast, flexible, keyed
    return call


#: What each kernel argument is, by name: ``name -> (numpydoc header, description)``. The kernels'
#: docstrings are built from it (:func:`kernel_doc`), so every argument is defined once.
KERNEL_ARGS = {
    "D": ('D : namedtuple',
          "The landscape's kernel data (``kernel_data()``: ``DenseData``, ``SparseData``, ``LowRankData``, "
          "``MLPData`` or an Objective's ``ObjData``)."),
    "BD": ('BD : namedtuple',
           'The stacked kernel data of ``B`` landscapes of one form (``DenseBatch``, ``SparseBatch``, '
           "``LowRankBatch``, ``MLPBatch``); ``ls_nth(BD, b)`` is landscape ``b``'s."),
    "M": ('M : Moves',
          'The move set (:data:`standin.search.spaces.Moves`: kind, ``m``, ``k``, allowed bits, offsets).'),
    "aux": ('aux : tuple of float64 arrays',
            "The landscape's buffers (``kernel_aux()``): its incremental state and scratch."),
    "S": ('S : MoveState',
          'The move state (:data:`standin.search.moves.MoveState`), written as the search moves.'),
    "S0": ('S0 : MoveState',
           "A fresh move state, copied into ``S`` before each landscape's search."),
    "x": ('x : int8 array (m,)',
          'The current state (scratch).'),
    "best_x": ('best_x : int8 array (m,)',
               'Out: the best state found.'),
    "best_X": ('best_X : int8 array (B, m)',
               "Out: each landscape's best state."),
    "budget": ('budget : int',
               'Landscape evaluations allowed (a full evaluation or a move delta each).'),
    "restarts": ('restarts : int',
                 'Independent runs splitting the budget.'),
    "t_hot": ('t_hot, t_cold : float',
              'The temperature range (ignored when ``seen`` is not empty: the walk measures it).'),
    "sweep": ('sweep : bool',
              'Propose the moves in cyclic order (else uniformly at random).'),
    "starts": ('starts : int8 array (R, m)',
               'Start states, restart ``r`` from row ``r mod R``; ``R = 0``: uniformly random states.'),
    "rng": ('rng : uint64 array (4,)',
            "The xoshiro256** generator's state (advanced in place)."),
    "rngs": ('rngs : uint64 array (B, 4)',
             'One generator per landscape.'),
    "marks": ('marks : int64 array (T,)',
              'The evaluation counts at which the trace records the best score (``trace.checkpoints``).'),
    "trace": ('trace : float64 array (T,)',
              'Out: the best score at each mark reached (NaN beyond).'),
    "traces": ('traces : float64 array (B, T)',
               "Out: each landscape's trace."),
    "evals": ('evals : int',
              'Evaluations already spent before the call (counted against ``budget``).'),
    "seen": ('seen : float64 array (W,)',
             'Scratch for the temperature walk of ``W`` moves; ``W = 0``: no walk, ``t_hot``/``t_cold`` used.'),
    "scores": ('scores : float64 array (B,)',
               "Out: each landscape's best score."),
    "used": ('used : int64 array (B,)',
             "Out: each landscape's evaluations."),
    "first": ('first : bool',
              'Take the first improving move (else the best one).'),
    "until": ('until : int64 array (m,)',
              'Scratch: the iteration until which undoing a move on each bit is tabu.'),
    "tenure": ('tenure : int',
               'Iterations a move stays tabu.'),
    "patience": ('patience : int',
                 'Iterations without a new best before a fresh start.'),
    "digits": ('digits, step : int64 arrays (m + 1,)',
               'Scratch for the enumeration.'),
    "no_starts": ('no_starts : int8 array (0, m)',
                  'An empty start set: the walk starts at a random state.'),
    "X": ('X : int8 array (N, m)',
          'The states to evaluate.'),
    "out": ('out : float64 array',
            'Out: the values.'),
    "off": ('off, on : int64 arrays (N,)',
            'Move ``t`` flips bit ``off[t]`` and, where ``on[t] >= 0``, ``on[t]``.'),
}
#: Arguments described together with the one before them (``t_hot, t_cold : float``).
KERNEL_ARGS_PAIRED = ("t_cold", "step", "on")


def kernel_doc(summary: str, returns: str | None = None):
    """Give a kernel a numpydoc docstring: ``summary``, a Parameters section with each of its
    arguments' :data:`KERNEL_ARGS` entry, in signature order, and ``returns`` (``"name : type"``, then
    its description on the next line) as its Returns section."""

    def decorate(fn):
        lines = [summary, "", "Parameters", "----------"]
        for name in inspect.signature(fn).parameters:
            if name not in KERNEL_ARGS_PAIRED:
                head, text = KERNEL_ARGS[name]
                lines += [head, "    " + text]
        if returns:
            head, text = returns.split("\n", 1)
            lines += ["", "Returns", "-------", head, "    " + text]
        fn.__doc__ = "\n".join(lines)
        return fn

    return decorate


def arg_key(value):
    """A hashable key that determines numba's type of ``value``, or None where not sure.

    numba resolves a call's compiled overload by typing every argument, which costs about 0.25 ms
    for a landscape tuple holding jitted functions (:class:`search.Objective`): more than a short
    search. Kernels cache the compiled entry point under this key instead. The key mirrors
    ``numba.typeof`` for what kernels take: arrays (dtype, ndim, layout, writeable, aligned),
    tuples and namedtuples, Python and numpy scalars, ``None`` and jitted functions; anything
    else gives None, and the call goes through numba's dispatch.
    """
    t = type(value)
    if t is np.ndarray:
        f = value.flags
        layout = "C" if f.c_contiguous else "F" if f.f_contiguous else "A"  # numba's order of preference
        return (value.dtype, value.ndim, layout, f.writeable, f.aligned)
    if isinstance(value, tuple):
        parts = tuple(arg_key(v) for v in value)
        return None if None in parts else (t, parts)
    if t is int:  # int64, or uint64 past its range (numba's rule)
        return (int, value >= 2**63)
    if t in (float, bool) or isinstance(value, np.generic) and not isinstance(value, np.void):
        return (t,)
    if value is None:
        return ("none",)
    if isinstance(value, numba.core.registry.CPUDispatcher):
        return ("fn", value)
    return None


#: A function compiled inside its jitted caller, with the caller's flags; plain Python otherwise.
jitable = register_jitable


# --------------------------------------------------------------------------- random numbers


_M64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def derive_seed(seed: int, index: int) -> int:
    """A seed for item ``index`` of a batch searched with ``seed`` (distinct streams per item)."""
    return _splitmix64((int(seed) & _M64) ^ _splitmix64(int(index) + 0x632BE59BD9B4E019))


def derive_states(seed: int, count: int) -> np.ndarray:
    """``rng_state(derive_seed(seed, b))`` for ``b`` in ``0..count-1``, as rows of one ``(count, 4)`` array."""
    states = np.empty((count, 4), dtype=np.uint64)
    _derive_into(np.uint64(int(seed) & _M64), states)
    return states


@njit
def splitmix(z):
    """splitmix64's output for the state ``z`` (it adds γ, then mixes), in wrapping uint64 arithmetic
    (also the envs' way to derive a side stream from a state without advancing it)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit
def _derive_into(seed, states):
    for b in range(states.shape[0]):
        _seed_into(splitmix(seed ^ splitmix(np.uint64(b) + np.uint64(0x632BE59BD9B4E019))), states[b])


def rng_state(seed: int) -> np.ndarray:
    """A fresh xoshiro256** state (``uint64[4]``) from ``seed``, by splitmix64 as its authors
    recommend (any integer seed; seeds are taken modulo 2^64). Cheap: it runs on every search."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    seed = int(seed) & _M64
    state = np.empty(4, dtype=np.uint64)
    _seed_signed(seed - (1 << 64) if seed >> 63 else seed, state)  # an int64: one compiled version, no boxing
    return state


@njit
def _seed_signed(seed, state):
    """:func:`_seed_into` for the seed's bits given as an int64 (a numpy uint64 scalar costs 0.4 µs to make)."""
    _seed_into(np.uint64(seed), state)


@njit
def _seed_into(z, state):
    """``rng_state``'s words, compiled (the Python integers took 3 µs a search): word ``w`` is
    splitmix64 of ``z + (w + 1)·γ``, γ the golden-ratio constant, in wrapping uint64 arithmetic."""
    any_set = False
    for w in range(4):  # splitmix64: the state advances by γ per word
        v = splitmix(z)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        state[w] = v
        any_set = any_set or v != 0
    if not any_set:  # the all-zero state is the generator's one fixed point
        state[0] = np.uint64(1)


@jitable
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@jitable
def next_u64(state):
    """Advance ``state`` in place and return 64 random bits."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return result


@jitable
def uniform(state):
    """A float in [0, 1) with 53 random bits."""
    return np.float64(next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@jitable
def randint(state, n):
    """An integer in [0, n), n < 2^32, exactly uniform (Lemire's multiply-and-reject, no division
    on the common path)."""
    un = np.uint64(n)
    m = (next_u64(state) >> np.uint64(32)) * un
    low = m & np.uint64(0xFFFFFFFF)
    if low < un:
        threshold = (np.uint64(0x100000000) - un) % un
        while low < threshold:
            m = (next_u64(state) >> np.uint64(32)) * un
            low = m & np.uint64(0xFFFFFFFF)
    return np.int64(m >> np.uint64(32))


@jitable
def random_bits(state, x):
    """Fill the int8 array ``x`` with independent fair bits."""
    n = x.shape[0]
    i = 0
    while i < n:
        r = next_u64(state)
        for _ in range(64):
            if i >= n:
                break
            x[i] = np.int8(r & np.uint64(1))
            r >>= np.uint64(1)
            i += 1


@jitable
def normal(state):
    """A standard normal variate (Box–Muller; one of the pair is discarded, which keeps the
    generator's state the only state)."""
    u1 = 1.0 - uniform(state)  # in (0, 1]
    u2 = uniform(state)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
