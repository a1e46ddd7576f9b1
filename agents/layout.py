"""Item-structured observations: one feature row per action item.

Many combinatorial actions are a choice per *item*: a bit of ``MultiBinary(n)`` (``n`` items), an
item of a k-of-N space (``N`` items; a ``MultiBinary`` with attribute ``k``, see ``envs.slate.KOfN``)
or a component, e.g. an agent, of a rank-1 ``MultiDiscrete(nvec)`` (``len(nvec)`` items). When the
observation shows one row of features per item, a permutation-equivariant network (one network
applied to every item row, with pooled context) can use that structure.

The convention (see ``docs/adding-an-environment.md``, "Item-structured observations"):

- an env's observation is *item-structured* when its observation space is a ``gymnasium.spaces.Box``
  of shape ``(n_items, d)`` whose first dimension is the action's number of items
  (:func:`action_items`); row ``i`` describes item ``i``;
- features shared by all items (a user's interests, a remaining budget, time) are extra columns,
  repeated on every row;
- optionally the env class declares ``item_global_features = g`` (an int, default 0): the *last*
  ``g`` columns are global (identical on every row), so a network may read them once.

This module only reads spaces and attributes and imports no torch, so an env author can check their
layout cheaply; it lives with the agents, who consume it (envs only follow the convention and import
nothing from here). ``agents.items`` builds the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv

__all__ = ["ItemLayout", "action_items", "choose_torso", "item_layout"]

ATTRIBUTE = "item_global_features"


@dataclass(frozen=True)
class ItemLayout:
    """How an item-structured observation lines up with the action.

    Attributes:
        n_items: rows of the observation, items of the action.
        features: columns of the observation (``d``), global ones included.
        global_features: the last ``global_features`` columns are global (identical on every row);
            the first ``features - global_features`` are the item's own.
        values: per item, its width in the action's binary encoding (search's, and the outputs a
            per-item head needs): ``1`` for a bit of ``MultiBinary``/k-of-N (one binary slot),
            ``nvec[i]`` for a ``MultiDiscrete`` component (one-hot over its values). ``sum(values)``
            is the encoding's length.
    """

    n_items: int
    features: int
    global_features: int
    values: tuple[int, ...]

    @property
    def item_features(self) -> int:
        """The columns that are the item's own (``features - global_features``)."""
        return self.features - self.global_features


def action_items(space) -> int | None:
    """The number of items of an action space, or None when it has no item structure.

    ``MultiBinary`` (k-of-N included): its flattened size; rank-1 ``MultiDiscrete(nvec)``:
    ``len(nvec)``; ``Discrete`` and anything else: None.
    """
    if isinstance(space, spaces.MultiBinary):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec)
        return int(nvec.shape[0]) if nvec.ndim == 1 else None
    return None


def _values(space) -> tuple[int, ...]:
    if isinstance(space, spaces.MultiDiscrete):
        return tuple(int(v) for v in np.asarray(space.nvec))
    return (1,) * int(np.prod(space.shape))


def _declarer(env):
    """The object whose ``item_global_features`` counts: an env class itself, the innermost env of a
    wrapped env, or for a vector env one of its single envs (a standin vector env's ``template``, a
    ``SyncVectorEnv``'s first env)."""
    if env is None or isinstance(env, type):
        return env
    inner = getattr(env, "unwrapped", env)
    if hasattr(inner, ATTRIBUTE) or not isinstance(inner, VectorEnv):
        return inner
    single = getattr(inner, "template", None)  # envs._core.CoreVectorEnv
    if single is None:
        subs = getattr(inner, "envs", None)  # gymnasium.vector.SyncVectorEnv
        single = subs[0] if isinstance(subs, (list, tuple)) and subs else None
    return inner if single is None else _declarer(single)


def _env_name(env) -> str:
    if isinstance(env, type):
        name = getattr(env, "name", None)
        return name if isinstance(name, str) and name != "env" else env.__name__
    spec = getattr(env, "spec", None)
    if getattr(spec, "id", None):
        return spec.id
    name = getattr(env, "name", None)
    return name if isinstance(name, str) and name != "env" else type(env).__name__


def item_layout(observation_space, action_space, env=None) -> ItemLayout | None:
    """The :class:`ItemLayout` of an item-structured observation, or None when it is not one.

    The observation is item-structured when ``observation_space`` is a ``Box`` of shape
    ``(n_items, d)`` with ``n_items == action_items(action_space)`` and ``d >= 1``. ``env`` (an env,
    wrapped or not, a vector env, or an env class) is read for ``item_global_features`` (default 0;
    an env whose count depends on its arguments, like Slate-v0, sets it in ``__init__``, so pass the
    instance); a value that is not an integer in ``0..d-1``, or a nonzero value on an env whose
    observation is not item-structured, is a ValueError naming the env and the attribute. For a
    vector env pass its ``single_observation_space`` and ``single_action_space``.
    """
    n_items = action_items(action_space)
    shape = getattr(observation_space, "shape", None)
    structured = (
        isinstance(observation_space, spaces.Box) and n_items is not None and len(shape) == 2
        and shape[0] == n_items and shape[1] >= 1
    )
    declarer = _declarer(env)
    g = getattr(declarer, ATTRIBUTE, 0) if declarer is not None else 0
    if not structured:
        if isinstance(g, (int, np.integer)) and not isinstance(g, (bool, np.bool_)) and g == 0:
            return None
        items = "no items" if n_items is None else f"{n_items} items"
        raise ValueError(
            f"{_env_name(declarer)}: {ATTRIBUTE} = {g!r} declares an item-structured observation, but the "
            f"observation space {observation_space} is not a Box of shape (n_items, d) matching the action "
            f"space {action_space} ({items}); make the observation a Box(n_items, d) or drop {ATTRIBUTE}"
        )
    d = int(shape[1])
    if isinstance(g, (bool, np.bool_)) or not isinstance(g, (int, np.integer)) or not 0 <= g < d:
        raise ValueError(
            f"{_env_name(declarer)}: {ATTRIBUTE} must be an integer in 0..{d - 1} (fewer than the "
            f"observation's {d} feature columns, so every item keeps at least one column of its own), got {g!r}"
        )
    return ItemLayout(n_items=int(n_items), features=d, global_features=int(g), values=_values(action_space))


def choose_torso(torso: str | None, env, head: str, owner: str):
    """The :class:`ItemLayout` to build item networks on (``torso="items"``), or None for a flat MLP.

    ``torso=None`` takes the items where ``env``'s observation is item-structured and ``head`` can
    use them (not ``autoregressive``); ``"items"`` on an env without the structure is an error."""
    layout = item_layout(env.observation_space, env.action_space, env)
    if torso == "mlp" or (torso is None and (layout is None or head == "autoregressive")):
        return None
    if layout is None:
        raise ValueError(f"{owner}: torso='items' needs an item-structured observation (a Box of shape (n_items, d) "
                         f"matching the action's items; see agents.layout), got {env.observation_space} for "
                         f"{env.action_space}")
    return layout
