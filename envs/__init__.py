"""standin.envs: Gymnasium environments with combinatorial action spaces.

Importing this package registers every id ``standin/<Name>-v0`` with Gymnasium.
"""

from __future__ import annotations

import inspect

import gymnasium as gym

from envs.reference import Reference

_ENTRY_POINTS = {
    "standin/Landscape-v0": "envs.landscape:LandscapeEnv",
}

for _id, _entry in _ENTRY_POINTS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry)


def ids() -> list[str]:
    """The registered standin environment ids."""
    return sorted(_ENTRY_POINTS)


def env_class(env_id: str):
    """The environment class behind ``env_id``, with a clear error for an unknown id."""
    if env_id not in gym.registry:
        raise ValueError(f"unknown environment {env_id!r}; standin environments: {', '.join(ids())}")
    entry = gym.registry[env_id].entry_point
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        return getattr(__import__(module, fromlist=[attr]), attr)
    return entry


def make(env_id: str, **kwargs) -> gym.Env:
    """``gymnasium.make`` with errors that name an unknown id or keyword argument."""
    cls = env_class(env_id)
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        allowed = [p for p in params if p not in ("self", "render_mode")]
        for key in kwargs:
            if key not in allowed:
                raise ValueError(f"{env_id}: unknown argument {key!r}; allowed: {', '.join(allowed)}")
    return gym.make(env_id, **kwargs)


__all__ = ["Reference", "env_class", "ids", "make"]
