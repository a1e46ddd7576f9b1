"""standin.agents: every agent is a config dataclass plus a class with ``fit`` and ``act``.

Owns: the agents (simple.py: random and oracle; value_search.py, propose_search.py, distill.py,
ppo.py, filtered.py), the contract they keep (common.py: ``Agent``, ``TrainingCost``, ``Bound``), the
parts they are built from (proposals.py: where a search's candidates come from; exploration.py: how
training actions depart from the search's; replay.py: the replay buffer; value_search.py's value
models; heads.py: policy heads; items.py, layout.py: item-structured networks; export.py: values as
search landscapes; imitation.py, adversary.py, checkpoint.py), and the registry:
``agents.make(name, seed=0, **config)`` builds one by the name suites and the CLI use.

May import: standin.search and standin.envs, with torch and numpy; not benchmarks (what runs and
measures agents).
"""

from __future__ import annotations

import importlib

from standin.agents.common import Agent, Logger, NullLogger, TrainingCost, build_config, config_dict, tick

_REGISTRY = {
    "random": "standin.agents.simple:RandomAgent",
    "oracle": "standin.agents.simple:OracleAgent",
    "value-search": "standin.agents.value_search:ValueSearchAgent",
    "propose-search": "standin.agents.propose_search:ProposeSearchAgent",
    "distill": "standin.agents.distill:DistillAgent",
    "ppo": "standin.agents.ppo:PPOAgent",
    "filtered": "standin.agents.filtered:FilteredAgent",
}


_BUILTIN = frozenset(_REGISTRY)


def register(name: str, agent) -> None:
    """Make ``agent`` (its class, or ``"module:Class"``) known as ``name`` to suites, the CLI and
    :func:`make`.

    Call it in your own module; a suite (or ``--agent``) then names the agent ``your_module:name``,
    and each worker process imports ``your_module``, which registers it, before building the agent:
    Gymnasium's ``module:Env-v0`` convention, for agents (docs/adding-an-agent.md). Registering a
    name again replaces it; the built-in names can't be taken.
    """
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise ValueError(f"agents.register: the name must be a non-empty string without ':' or spaces around it, "
                         f"got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"agents.register: {name!r} is a built-in agent; choose another name")
    if not (isinstance(agent, type) or isinstance(agent, str) and ":" in agent):
        raise ValueError(f"agents.register: give the agent's class or 'module:Class', got {agent!r}")
    _REGISTRY[name] = agent


def names() -> list[str]:
    """Agent names, as suites and the CLI use them (registered ones included)."""
    return list(_REGISTRY)


def agent_class(name: str):
    """The class behind ``name`` (``module:name`` imports ``module`` first), with a clear error for an
    unknown name."""
    entry = _REGISTRY.get(name)
    if entry is None:
        module, sep, short = name.partition(":")
        if not (sep and module and short):
            raise ValueError(f"unknown agent {name!r}; agents: {', '.join(names())}")
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"agent {name!r}: cannot import module {module!r} ({e})") from None
        entry = _REGISTRY.get(short)
        if entry is None:
            raise ValueError(f"agent {name!r}: module {module!r} registers no agent {short!r} "
                             "(standin.agents.register)")
    if isinstance(entry, type):
        return entry
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def trains(name: str, config, env=None) -> bool:
    """Whether agent ``name`` with ``config`` (its dataclass, or a dict of fields) learns from training
    steps on ``env`` (some defaults depend on the env; without one, an agent that might learn is
    taken to). Suites give every agent that does the same budget; the others get none. An agent
    class without a ``trains(config, env)`` method is taken to learn."""
    cls = agent_class(name)
    if isinstance(config, dict):
        config = build_config(cls.Config, config, owner=name)
    check = getattr(cls, "trains", None)
    return True if check is None else bool(check(config, env))


def make(name: str, *, seed: int = 0, **config) -> Agent:
    """Build agent ``name`` from config keyword arguments (unknown or mistyped fields are errors)."""
    cls = agent_class(name)
    return cls(build_config(cls.Config, config, owner=name), seed=seed)


__all__ = ["Agent", "Logger", "NullLogger", "TrainingCost", "agent_class", "build_config", "config_dict", "make",
           "names", "register", "tick", "trains"]
