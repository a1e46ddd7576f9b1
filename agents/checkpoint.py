"""Checkpoints: a trained agent saved with what rebuilds it, and loaded back to act again.

A checkpoint is a ``torch.save`` of plain data: the agent's name, config and seed, the environment
id and arguments it was trained on, and the agent's ``state_dict()`` (tensors). It loads with
``torch.load(..., weights_only=True)``: no pickled code runs. Loading rebuilds the environment,
builds the agent untrained (``fit(env, 0)``, deterministic from the seed) and restores its weights.
Agents without a ``state_dict`` method (``random``, ``oracle``) have nothing to save.
"""

from __future__ import annotations

from pathlib import Path

import torch

FORMAT = 1


def save(path, agent, *, name: str, config: dict, seed: int, env_id: str, env_kwargs: dict) -> Path:
    """Write ``agent``'s checkpoint to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = agent.state_dict() if hasattr(agent, "state_dict") else {}
    payload = {"format": FORMAT, "agent": name, "config": config, "seed": int(seed), "env_id": env_id,
               "env_kwargs": env_kwargs, "state": state}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # whole or absent: a kill mid-write leaves no half checkpoint
    return path


def load(path):
    """``(agent, env, payload)`` from a checkpoint: the environment rebuilt, the agent restored."""
    from standin import agents, envs

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such checkpoint: {path}")
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise ValueError(f"{path}: not a standin checkpoint ({type(e).__name__}: {e})".splitlines()[0]) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a standin checkpoint of format {FORMAT}")
    env = envs.make(payload["env_id"], **payload["env_kwargs"])
    agent = agents.make(payload["agent"], seed=payload["seed"], **payload["config"])
    agent.fit(env, 0)
    if hasattr(agent, "load_state_dict"):
        agent.load_state_dict(payload["state"])
    return agent, env, payload
