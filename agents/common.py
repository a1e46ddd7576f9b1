"""What every agent shares: config building, the logger protocol, seeding, the env's spec."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Protocol, Union

import numpy as np


class Logger(Protocol):
    """Where agents send training curves (the runner's goes to TensorBoard).

    A logger may also have ``step(env_steps)``, which an agent calls (through :func:`tick`) as its
    training consumes environment steps: the runner evaluates the agent there at fixed points along
    the budget. An agent that never ticks is evaluated at its first ``scalar`` past each point."""

    def scalar(self, tag: str, value: float, step: int) -> None: ...


class NullLogger:
    """A logger that drops everything."""

    def scalar(self, tag: str, value: float, step: int) -> None:
        pass

    def step(self, env_steps: int) -> None:
        pass


def tick(log, env_steps: int) -> None:
    """Tell ``log`` that training has consumed ``env_steps`` environment steps (if it listens)."""
    step = getattr(log, "step", None)
    if step is not None:
        step(env_steps)


@dataclasses.dataclass
class TrainingCost:
    """What an agent's ``fit`` spent; the runner records it with every trial (``train_*`` metrics).

    Agents compared in one table get the same ``env_steps`` budget; the rest says what each did
    with it."""

    env_steps: int = 0
    """Environment steps taken in training, every learner's included (a distilled student's rollouts
    and its teacher's training; a learned value's and its online proposal's shared steps once)."""
    gradient_steps: int = 0
    """Optimiser steps, summed over every network the agent trains."""
    search_evaluations: int = 0
    """Landscape evaluations made by searches during training: acting, Bellman targets, labels."""
    label_evaluations: int = 0
    """Of those, the ones a teacher spent labelling a student's states (``distill``)."""
    overseer_queries: int = 0
    """Verdicts asked of an env's overseer (``overseer(action)``, e.g. Completion-v0) to label
    training data: the label budget spent, standing in for human labellers' time."""

    def add(self, other: TrainingCost) -> None:
        """Count ``other``'s spending in this one (a teacher's in its student's)."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Agent(Protocol):
    """The agent contract.

    ``fit(env, steps, log)`` trains for ``steps`` environment steps (0 for agents that don't
    learn) and binds the agent to ``env``; ``act(obs, info)`` then decides for that env's current
    state (agents that use the env's capabilities, ``landscape()``, ``optimal_action()`` or a
    hard constraint's ``feasible()``, read them from the bound env, so evaluate on that env). After
    each ``act``, ``last_evaluations`` holds the landscape evaluations that decision used (0 for a
    policy's forward pass). After ``fit``, ``cost`` (a :class:`TrainingCost`) says what training
    spent.

    Optional, found by attribute (the runner uses what an agent has):

    - ``state_dict()`` / ``load_state_dict(state)``: trained weights, saved as a checkpoint
      (``agents.checkpoint``) and restored after ``fit(env, 0)``;
    - ``shortfall(obs, info, action) -> dict | None``: the split of one decision's shortfall into
      ``search_error`` and ``value_error`` (``value-search`` with a learned value); with
      ``shortfall_capture(obs, info, action)`` (what the split needs from the env's current state, or
      None) and ``shortfall_batch(captures) -> list[dict]``, the runner splits a few decisions at a
      time, their searches as one batch;
    - ``teacher``: another agent evaluated beside this one (``distill``);
    - ``audit(env, seed) -> dict``: extra measurements after evaluation, recorded with the metrics
      (``filtered``'s red-teaming by search, ``adversary_*``);
    - ``act_batch(obs, core, idx)`` with ``config.safety_decisions > 0``: the runner measures the
      failure rate on that many fresh prompts at once (``benchmarks.safety``, ``safety_*``);
    - ``chosen() -> dict``: the config fields left to None that ``fit`` chose from the env (a
      head, a value), with what it chose; the runner records them in the trial's ``agent_config``;
    - ``kind``, a class attribute: ``"policy"`` (decides with a trained network: ``ppo``,
      ``distill``), ``"search"`` (searches a value at decision time: ``value-search``,
      ``propose-search``) or ``"reference"`` (the 0.0 and 1.0 ends: ``random``, ``oracle``).
      Reports compare search against policies by it (the crossover table); null if absent.
    """

    last_evaluations: int
    cost: TrainingCost

    def fit(self, env, steps: int, log: Logger) -> None: ...

    def act(self, obs, info) -> np.ndarray: ...


def _accepts(tp, value) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_accepts(t, value) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, (bool, np.bool_))
    if tp is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if tp is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if tp is str:
        return isinstance(value, str)
    return True


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(t) for t in typing.get_args(tp))
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def build_config(cls, kwargs: dict, owner: str):
    """Build the config dataclass ``cls`` from ``kwargs``, naming any unknown or mistyped field."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key, value in kwargs.items():
        if key not in fields:
            raise ValueError(f"{owner}: unknown config field {key!r}; allowed: {', '.join(sorted(fields))}")
        if not _accepts(hints[key], value):
            raise ValueError(f"{owner}: config field {key!r} must be {_describe(hints[key])}, got {value!r}")
    values = {k: (float(v) if hints[k] is float else v) for k, v in kwargs.items()}
    return cls(**values)


def config_dict(config) -> dict:
    """A config dataclass as a plain dict."""
    return dataclasses.asdict(config)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch (if imported by the agent) and return a numpy Generator for the agent's own use."""
    import torch

    torch.manual_seed(seed)
    return np.random.default_rng(seed)


class ActionCodec:
    """An env's action space in search's binary encoding (``search.as_space``), and back.

    Takes ``MultiBinary`` (k-of-N too), rank-1 ``MultiDiscrete`` and ``Discrete(n, start)``; the
    last is searched as one categorical component and returned as a Python int.

    Attributes:
        search_space: what ``search.maximize`` gets.
        m: length of the binary encoding.
    """

    def __init__(self, space):
        import gymnasium

        from standin import search

        self.space = space
        self.scalar = isinstance(space, gymnasium.spaces.Discrete)
        if self.scalar:
            self.start = int(space.start)
            self.search_space = search.Discrete((int(space.n),))
        else:
            self.start = 0
            self.search_space = search.as_space(space)  # a clear error for unsupported spaces
        self.m = self.search_space.m

    def encode(self, action) -> np.ndarray:
        """The int8 encoding of an env action, shape ``(m,)``."""
        if self.scalar:
            return self.search_space.encode(np.array([int(action) - self.start]))
        return self.search_space.encode(np.asarray(action))

    def to_env(self, action):
        """A search result's action as the env takes it."""
        return int(action[0]) + self.start if self.scalar else action

    def search_mask(self, info):
        """``info["action_mask"]`` in a form ``search.maximize(mask=...)`` takes, or None."""
        mask = info.get("action_mask") if isinstance(info, dict) else None
        if mask is None or not self.scalar:
            return mask
        return np.asarray(mask).reshape(-1)


@dataclasses.dataclass
class Bound:
    """What an agent binds in ``fit`` and hands to the parts it is built from (a proposal, an
    exploration rule, a value model): the env and what is read from it, and the agent's own seed,
    random stream and cost account. The parts draw from the agent's stream and count on its account,
    so one seed fixes the whole run and ``cost`` says what all of them spent."""

    env: Any
    """The env as given to ``fit`` (wrappers included: reset and step it)."""
    space: Any
    """Its action space."""
    codec: ActionCodec
    """The action space in search's binary encoding, and back."""
    obs_dim: int
    """Length of the flat observation."""
    items: Any
    """The observation's item layout (``agents.layout``) for item networks, or None for a flat torso."""
    seed: int
    rng: np.random.Generator
    """The agent's random stream."""
    cost: TrainingCost
    """The agent's account of what training spent."""
    owner: str
    """The agent's name, for errors."""

    @property
    def unwrapped(self):
        """The env without its wrappers (its ``landscape()``, ``optimal_action()``)."""
        return self.env.unwrapped


def repair(bits: np.ndarray, logits, env) -> np.ndarray:
    """A binary action made feasible for ``env``'s hard constraint, if it declares one.

    An env with a ``feasible(action) -> bool`` capability (Knapsack-v0's capacity) gets the chosen
    bits dropped one at a time, least likely first (lowest ``logits``), until ``feasible`` holds;
    for a packing constraint (any subset of a feasible set is feasible) that always ends feasible,
    keeping the likeliest items that fit. Without the capability, ``bits`` is returned unchanged.
    ``logits`` is an array, or a function returning one, called only when a repair is needed.
    """
    feasible = getattr(getattr(env, "unwrapped", env), "feasible", None)
    if feasible is None or feasible(bits):
        return bits
    logits = logits() if callable(logits) else logits
    bits = bits.copy()
    for i in sorted(np.flatnonzero(bits), key=lambda j: logits[j]):
        bits[i] = 0
        if feasible(bits):
            break
    return bits


def sample_action(space, info=None):
    """A uniform random action from ``space`` (seed it first), honouring ``info["action_mask"]``.

    A ``MultiDiscrete`` mask may come as Gymnasium's tuple or as one ``(components, values)`` array.
    """
    import gymnasium

    mask = info.get("action_mask") if isinstance(info, dict) else None
    if mask is None:
        return space.sample()
    if isinstance(space, gymnasium.spaces.MultiDiscrete) and not isinstance(mask, tuple):
        mask = tuple(np.asarray(row, dtype=np.int8) for row in np.asarray(mask).reshape(len(space.nvec), -1))
    elif isinstance(mask, np.ndarray):
        mask = mask.astype(np.int8, copy=False)
    return space.sample(mask=mask)


def env_spec(env) -> tuple[str, dict]:
    """``(id, kwargs)`` that rebuild ``env`` (for vector copies of it), time limit included."""
    spec = getattr(env, "spec", None)
    if spec is None:
        raise ValueError("agent needs an env made by gymnasium.make (it has no spec to copy)")
    kwargs = dict(spec.kwargs)
    if spec.max_episode_steps is not None:
        kwargs["max_episode_steps"] = spec.max_episode_steps
    return spec.id, kwargs


def field_docs(cls) -> dict[str, str]:
    """The attribute docstrings of a config dataclass (the string literal after each field)."""
    import ast
    import inspect
    import textwrap

    docs = {}
    for klass in reversed([c for c in cls.__mro__ if dataclasses.is_dataclass(c)]):  # a subclass's docs win
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs
