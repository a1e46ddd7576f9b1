"""A policy over an env's action space, trained by maximum likelihood on given actions.

Shared by ``propose-search`` (its proposal learns from the search's picks) and ``distill`` (its
student learns from a teacher's). The network is PPO's actor with any of its heads; actions are
handled in search's form (``ActionCodec``): bits for ``MultiBinary`` and k-of-N, component values
for ``MultiDiscrete`` and ``Discrete``.
"""

from __future__ import annotations

import numpy as np
import torch

from standin.agents.common import ActionCodec, repair
from standin.agents.heads import AutoregressiveDistribution, BernoulliHead, default_head, head_mask
from standin.agents.ppo import ActorCritic


class ImitationPolicy:
    """``π(a | s)`` with one of PPO's heads, and a maximum-likelihood step on ``(s, a)`` batches.

    Args:
        codec: the env's action space and its search encoding.
        obs_dim: length of the flat observation.
        head: ``factored``, ``autoregressive`` or ``without-replacement`` (k-of-N spaces only).
        hidden: widths of the hidden layers.
        lr: Adam learning rate.
        owner: the agent's name, for error messages.
        items: an item-structured observation's layout (``agents.layout.ItemLayout``) to build the
            permutation-equivariant item network on (``agents.layout.choose_torso``), or None for an MLP.
    """

    def __init__(self, codec: ActionCodec, obs_dim: int, head: str, hidden, lr: float, owner: str, items=None):
        k = getattr(codec.space, "k", None)
        if (head == "without-replacement") != (default_head(codec.space) == "without-replacement"):
            fits = "without-replacement" if k is not None else "factored or autoregressive"
            raise ValueError(f"{owner}: head={head!r} does not fit {codec.space}; use {fits}")
        self.codec = codec
        self.nvec = getattr(codec.search_space, "nvec", None)  # categorical components; None for bits
        n_out = codec.m if self.nvec is None else len(self.nvec)
        nvec = (self.nvec or [2] * codec.m) if head == "autoregressive" else self.nvec
        self.net = ActorCritic(obs_dim, n_out, tuple(hidden), nvec, head, k, items=items)
        self.head = head
        self.optim = torch.optim.Adam(self.net.actor_parameters(), lr=lr)

    def allowed(self, info) -> torch.Tensor | None:
        """``info["action_mask"]`` as the head's mask: bool ``(1, C, K)`` over categorical components,
        ``(1, n)`` over k-of-N items; None without a mask (a Bernoulli head takes none)."""
        mask = head_mask({"action_mask": self.codec.search_mask(info)}, False, self.nvec,
                         self.head == "without-replacement", self.codec.m)
        return None if mask is None else torch.as_tensor(mask)

    def _dist(self, obs, info, count: int = 1):
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(1, -1)).expand(count, -1)
        return self.net.policy(obs_t, self.allowed(info))

    def _search_form(self, actions: torch.Tensor) -> np.ndarray:
        a = actions.numpy()
        return a.astype(np.int8) if self.nvec is None else a.astype(np.int64)

    @torch.no_grad()
    def sample(self, obs, info, count: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``count`` actions at ``obs`` in search's form, and their log-probabilities."""
        dist = self._dist(obs, info, count)
        actions = dist.sample(generator)
        return self._search_form(actions), dist.log_prob(actions).double().numpy()

    @torch.no_grad()
    def mode(self, obs, info, env=None):
        """The head's most likely action (greedy for the autoregressive head), as the env takes it;
        for bits, made feasible for ``env``'s hard constraint if it has one (``agents.common.repair``)."""
        dist = self._dist(obs, info)
        mode = dist.mode()
        action = self._search_form(mode)[0]
        if env is not None and self.nvec is None:
            if isinstance(dist, BernoulliHead):
                action = repair(action, dist.logits[0].numpy(), env)
            elif isinstance(dist, AutoregressiveDistribution):
                action = repair(action, lambda: _bit_margins(dist, mode), env)
        return self.codec.to_env(action)

    def target(self, action) -> np.ndarray:
        """An env action as the head's float target (bits, or component values)."""
        a = np.array([int(action) - self.codec.start]) if self.codec.scalar else np.asarray(action)
        return a.astype(np.float32).reshape(-1)

    def learn(self, obs: np.ndarray, targets: np.ndarray) -> float:
        """One Adam step on ``−mean log π(target | obs)``; returns the loss."""
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        loss = -self.net.policy(obs_t).log_prob(torch.as_tensor(targets)).mean()
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        return float(loss.item())


def _bit_margins(dist: AutoregressiveDistribution, bits: torch.Tensor) -> np.ndarray:
    """Each bit's preference for 1 over 0 given the bits before it in ``bits`` ``(1, n)``, shape ``(n,)``."""
    logits = dist.head.conditional_logits(dist.h, bits)[0]
    return (logits[:, 1] - logits[:, 0]).numpy()


def agreement(action, reference, space=None) -> float:
    """How much of ``reference`` the action repeats: for a k-of-N ``space``, the fraction of the
    reference's k items it also picks; otherwise the fraction of equal components (bits, categorical
    components). 1 for the same action. (An exact-match rate is near 0 for any imitation of a 50-bit
    action, and a bitwise rate near 1 − 2k/N for any two k-of-N slates.)"""
    action, reference = np.asarray(action), np.asarray(reference)
    if space is not None and default_head(space) == "without-replacement":
        return float(np.sum((action != 0) & (reference != 0)) / space.k)
    return float(np.mean(action == reference))
