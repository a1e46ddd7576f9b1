"""``propose-search``: babble and prune. A proposal policy samples candidates; a value keeps the best.

The generator-plus-classifier pattern, and the amortised maximisation of AQL (Van de Wiele et al.,
2020): at each decision a proposal policy ``π(a | s)`` samples ``budget`` candidate actions and the
value (the env's landscape, or a learned ``Q̂`` exactly as in ``value-search``) scores them; the best
is taken. With ``refine``, the candidates instead seed the restarts of ``method`` (local search from
each proposal), sharing the same budget.

The proposal (``proposal``):

- ``uniform``: uniform random candidates (random shooting: the no-learning baseline);
- ``online``: a policy with one of PPO's heads (``head``), trained while acting by maximum
  likelihood on the actions the search picks, as AQL trains its proposal: the search teaches the
  proposal, and a better proposal makes the next search's job easier.

Everything else (values, Q-learning with search in the Bellman target, exploration, the shortfall
split) is ``value-search``'s: this agent is that one with a different way to search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

import search
from agents.ppo import HEADS, ActorCritic
from agents.value_search import ValueSearchAgent, ValueSearchConfig

PROPOSAL_BATCH = 64
"""Searched decisions per maximum-likelihood step of the online proposal."""


@dataclass
class ProposeSearchConfig(ValueSearchConfig):
    """Babble and prune: a proposal policy's candidates, scored by a value; the best is taken."""

    proposal: Literal["uniform", "online"] = "online"
    """Where candidates come from: ``uniform`` random actions, or an ``online`` policy trained by
    maximum likelihood on the search's choices while acting."""
    refine: bool = False
    """Seed ``method``'s restarts (local search) with the candidates, instead of only scoring them."""
    head: Literal["factored", "autoregressive", "without-replacement"] | None = None
    """The proposal policy's head (see ``ppo``); None: ``without-replacement`` for k-of-N spaces,
    else ``factored``."""
    proposal_lr: float = 1e-3
    """Adam learning rate of the online proposal."""
    proposal_hidden: int = 64
    """Width of the proposal policy's two hidden layers."""

    def __post_init__(self):
        super().__post_init__()
        if self.head is not None and self.head not in HEADS:
            raise ValueError(f"propose-search: head must be one of {', '.join(HEADS)} or None, got {self.head!r}")
        if not self.proposal_lr > 0:
            raise ValueError(f"propose-search: proposal_lr must be > 0, got {self.proposal_lr!r}")
        if self.proposal_hidden < 1:
            raise ValueError(f"propose-search: proposal_hidden must be >= 1, got {self.proposal_hidden!r}")


class ProposeSearchAgent(ValueSearchAgent):
    Config = ProposeSearchConfig
    name = "propose-search"

    # ------------------------------------------------------------------ the proposal policy

    def _build(self, env) -> None:
        cfg = self.config
        self.policy = None
        if cfg.proposal == "uniform":
            return
        space = self.space
        k = getattr(space, "k", None)
        head = cfg.head or ("without-replacement" if isinstance(k, (int, np.integer)) else "factored")
        self.nvec = getattr(self.codec.search_space, "nvec", None)  # categorical components, or None for bits
        if head == "autoregressive":
            nvec = self.nvec or [2] * self.codec.m
        else:
            nvec = self.nvec
        n_out = self.codec.m if self.nvec is None else len(self.nvec)
        if (head == "without-replacement") != isinstance(k, (int, np.integer)):
            raise ValueError(f"propose-search: head={head!r} does not fit {space}; use "
                             f"{'without-replacement' if k is not None else 'factored or autoregressive'}")
        torch.manual_seed(self.seed)
        self.policy = ActorCritic(self.obs_dim, n_out, (cfg.proposal_hidden,) * 2, nvec, head, k)
        self.optim = torch.optim.Adam(self.policy.actor.parameters(), lr=cfg.proposal_lr)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.taught_obs: list[np.ndarray] = []
        self.taught_act: list[np.ndarray] = []

    def _allowed(self, info) -> torch.Tensor | None:
        """``info["action_mask"]`` as the policy's mask: bool ``(1, C, K)`` over categorical
        components, ``(1, n)`` over k-of-N items, None otherwise (a Bernoulli head takes none)."""
        mask = self.codec.search_mask(info)
        if mask is None:
            return None
        bits = self.codec.search_space.allowed(mask).astype(bool)
        if self.nvec is not None:
            out = np.zeros((1, len(self.nvec), max(self.nvec)), dtype=bool)
            for c, (lo, v) in enumerate(zip(self.codec.search_space.offsets[:-1], self.nvec, strict=True)):
                out[0, c, :v] = bits[lo : lo + v]
            return torch.as_tensor(out)
        return torch.as_tensor(bits[None]) if self.policy.head == "without-replacement" else None

    def _proposal(self, obs, info):
        """``proposal(count, rng) -> (actions, log_probs)`` for ``search.maximize``: samples of the
        policy at ``obs``, in search's action form."""
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(1, -1))

        allowed = self._allowed(info)

        def propose(count, rng):
            gen = torch.Generator().manual_seed(int(rng.integers(2**63)))
            with torch.no_grad():
                dist = self.policy.policy(obs_t.expand(count, -1), allowed)
                actions = dist.sample(gen)
                log_probs = dist.log_prob(actions)
            a = actions.numpy()
            a = a.astype(np.int8) if self.nvec is None else a.astype(np.int64)
            return a, log_probs.double().numpy()

        return propose

    def _search(self, obs, info, budget: int):
        cfg = self.config
        proposal = None if self.policy is None else self._proposal(obs, info)
        method = cfg.method if cfg.refine else "random"
        opts = {"restarts": cfg.restarts} if method in ("anneal", "tabu") else {}
        result = search.maximize(
            self._landscape(obs), self.codec.search_space, method, budget, seed=int(self.rng.integers(2**63)),
            proposal=proposal, mask=self.codec.search_mask(info), **opts,
        )
        self.last_evaluations = result.evaluations
        return self.codec.to_env(result.action)

    def _learn_from_search(self, obs, info, action) -> None:
        """One maximum-likelihood step of the proposal on recent searched decisions (AQL)."""
        if self.policy is None:
            return
        search_action = action if not self.codec.scalar else np.array([int(action) - self.codec.start])
        self.taught_obs.append(np.asarray(obs, dtype=np.float32).reshape(-1))
        self.taught_act.append(np.asarray(search_action, dtype=np.float32).reshape(-1))  # bits or values
        if len(self.taught_obs) < PROPOSAL_BATCH:
            return
        idx = self.rng.integers(0, len(self.taught_obs), PROPOSAL_BATCH)
        obs_b = torch.as_tensor(np.stack([self.taught_obs[i] for i in idx]))
        act_b = torch.as_tensor(np.stack([self.taught_act[i] for i in idx]))
        loss = -self.policy.policy(obs_b).log_prob(act_b).mean()
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()

    def _train_without_value(self, env, steps: int, log) -> None:
        """With an oracle or heuristic value only the proposal learns: act by search, teach it."""
        if self.policy is None:
            return
        cfg = self.config
        train_budget = cfg.train_budget or cfg.budget
        obs, info = env.reset(seed=self.seed)
        for _ in range(steps):
            action = self._search(obs, info, train_budget)
            self._learn_from_search(obs, info, action)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
