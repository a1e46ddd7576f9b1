"""standin.envs: Gymnasium environments with combinatorial action spaces.

Owns: one module per family (landscape.py, knapsack.py, lock.py, slate.py, swarm.py,
completion.py), each a single env and a vector env over one batched numba core (_core.py); the
references that normalise returns (reference.py); and registration: importing this package
registers every id ``standin/<Name>-v0`` with Gymnasium (``envs.make`` builds one).

May import: standin.search (an env with a known reward exports it as a search landscape, and its
kernels use search's random numbers), with numpy, numba and Gymnasium; not agents or benchmarks.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import gymnasium as gym

from standin.envs.reference import Reference
from standin.search import jit

if jit.CACHE:  # the env kernels inline search's random numbers: a change there clears our cache
    jit.invalidate_stale_cache(Path(__file__).resolve().parent, Path(jit.__file__).resolve().parent)

#: id -> (module, single env class, vector env class)
_FAMILIES = {
    "standin/Landscape-v0": ("standin.envs.landscape", "LandscapeEnv", "LandscapeVectorEnv"),
    "standin/Knapsack-v0": ("standin.envs.knapsack", "KnapsackEnv", "KnapsackVectorEnv"),
    "standin/Lock-v0": ("standin.envs.lock", "LockEnv", "LockVectorEnv"),
    "standin/Slate-v0": ("standin.envs.slate", "SlateEnv", "SlateVectorEnv"),
    "standin/Swarm-v0": ("standin.envs.swarm", "SwarmEnv", "SwarmVectorEnv"),
    "standin/Completion-v0": ("standin.envs.completion", "CompletionEnv", "CompletionVectorEnv"),
}
_ENTRY_POINTS = {env_id: f"{module}:{cls}" for env_id, (module, cls, _) in _FAMILIES.items()}

for _id, (_module, _cls, _vec) in _FAMILIES.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"{_module}:{_cls}", vector_entry_point=f"{_module}:{_vec}")


def ids() -> list[str]:
    """The registered standin environment ids."""
    return sorted(_ENTRY_POINTS)


def resolve(env_id: str) -> str:
    """The registry id of ``env_id``, importing ``module`` first for ``"module:Name-v0"``.

    That is Gymnasium's convention for users' environments: the module registers its ids when it is
    imported, so worker processes that only see the id string can still make the environment.
    """
    if env_id in gym.registry or ":" not in env_id:
        return env_id
    module, _, name = env_id.partition(":")
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"environment {env_id!r}: cannot import module {module!r} ({e})") from None
    return name


def env_class(env_id: str):
    """The environment class behind ``env_id``, with a clear error for an unknown id."""
    env_id = resolve(env_id)
    if env_id not in gym.registry:
        raise ValueError(
            f"unknown environment {env_id!r}; standin environments: {', '.join(ids())}; "
            "your own: register it with gymnasium.register and name it as 'your_module:YourEnv-v0'"
        )
    entry = gym.registry[env_id].entry_point
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        return getattr(importlib.import_module(module), attr)
    if entry is None:
        raise ValueError(f"environment {env_id!r} has no single-env entry_point")
    return entry


def make(env_id: str, **kwargs) -> gym.Env:
    """``gymnasium.make`` with errors that name an unknown id or keyword argument.

    ``env_id`` is a registered id, or ``"module:Name-v0"`` for an id that ``module`` registers.
    """
    cls = env_class(env_id)
    env_id = resolve(env_id)
    target = cls.__init__ if isinstance(cls, type) else cls
    params = inspect.signature(target).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        allowed = [p for p in params if p not in ("self", "render_mode")]
        for key in kwargs:
            if key not in allowed:
                raise ValueError(f"{env_id}: unknown argument {key!r}; allowed: {', '.join(allowed)}")
    return gym.make(env_id, **kwargs)


__all__ = ["Reference", "env_class", "ids", "make", "resolve"]
