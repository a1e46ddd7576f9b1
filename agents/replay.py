"""A replay buffer of one-step transitions, for values learned with search in the Bellman target."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Transitions(NamedTuple):
    """A minibatch of transitions, row ``t`` one transition (float32 unless said otherwise)."""

    obs: np.ndarray
    """``s``, flattened, ``(B, obs_dim)``."""
    action: np.ndarray
    """``a``'s binary encoding, ``(B, m)``."""
    reward: np.ndarray
    """``r``, ``(B,)``."""
    next_obs: np.ndarray
    """``s'``, ``(B, obs_dim)``."""
    next_action: np.ndarray
    """The encoding of the action taken at ``s'`` (SARSA targets), ``(B, m)``."""
    bootstrap: np.ndarray
    """bool ``(B,)``: ``s'`` is not terminal, so the target bootstraps from it."""
    allowed: np.ndarray | None
    """int8 ``(B, m)``: the encoding bits allowed at ``s'``; None while the env has shown no mask."""


class Replay:
    """The last ``capacity`` transitions ``(s, a, r, s', a', bootstrap, allowed at s')``, in a ring.

    :meth:`add` stores a transition as it happens; the action taken at ``s'`` comes one step later
    (:meth:`set_next_action`). The allowed bits at ``s'`` are kept from the first transition whose
    env shows a mask (the earlier ones count as all allowed).
    """

    def __init__(self, capacity: int, obs_dim: int, m: int):
        if capacity < 1:
            raise ValueError(f"Replay: capacity must be >= 1, got {capacity}")
        self.capacity, self.m, self.count = int(capacity), int(m), 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, m), np.float32)
        self.reward = np.zeros(capacity, np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_action = np.zeros((capacity, m), np.float32)
        self.bootstrap = np.zeros(capacity, bool)
        self.allowed: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Transitions stored (at most ``capacity``)."""
        return min(self.count, self.capacity)

    def add(self, obs, action, reward: float, next_obs, bootstrap: bool, allowed=None) -> int:
        """Store one transition (over the oldest once full); returns its slot."""
        i = self.count % self.capacity
        self.obs[i], self.action[i], self.reward[i] = np.ravel(obs), action, reward
        self.next_obs[i], self.bootstrap[i] = np.ravel(next_obs), bootstrap
        if allowed is not None:
            if self.allowed is None:
                self.allowed = np.ones((self.capacity, self.m), np.int8)
            self.allowed[i] = allowed
        self.count += 1
        return i

    def set_next_action(self, i: int, action) -> None:
        """The encoding of the action taken at slot ``i``'s ``s'``."""
        self.next_action[i] = action

    def batch(self, idx: np.ndarray) -> Transitions:
        """The transitions in slots ``idx``."""
        return Transitions(self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx],
                           self.next_action[idx], self.bootstrap[idx],
                           None if self.allowed is None else self.allowed[idx])
