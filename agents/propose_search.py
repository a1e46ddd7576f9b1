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

from standin import search
from standin.agents.common import tick
from standin.agents.heads import default_head
from standin.agents.imitation import ImitationPolicy
from standin.agents.ppo import HEADS
from standin.agents.value_search import ValueSearchAgent, ValueSearchConfig

PROPOSAL_BATCH = 64
"""Searched decisions per maximum-likelihood step of the online proposal."""


@dataclass
class ProposeSearchConfig(ValueSearchConfig):
    """Babble and prune: a proposal policy's candidates, scored by a value; the best is taken."""

    proposal: Literal["uniform", "online", "checkpoint"] = "online"
    """Where candidates come from: ``uniform`` random actions; an ``online`` policy trained by
    maximum likelihood on the search's choices while acting; or a trained ``ppo`` agent loaded from
    ``proposal_checkpoint`` (fixed: the search prunes what the direct policy babbles)."""
    proposal_checkpoint: str | None = None
    """Path of a ppo checkpoint (``standin bench`` writes them to ``checkpoints/``), for
    ``proposal="checkpoint"``."""
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
        if (self.proposal == "checkpoint") != (self.proposal_checkpoint is not None):
            raise ValueError("propose-search: proposal='checkpoint' and proposal_checkpoint go together "
                             f"(got proposal={self.proposal!r}, proposal_checkpoint={self.proposal_checkpoint!r})")
        if self.proposal_hidden < 1:
            raise ValueError(f"propose-search: proposal_hidden must be >= 1, got {self.proposal_hidden!r}")


class ProposeSearchAgent(ValueSearchAgent):
    Config = ProposeSearchConfig
    name = "propose-search"

    @staticmethod
    def trains(config: ProposeSearchConfig, env=None) -> bool:
        """A learned value, or an online proposal (which learns even over an oracle value)."""
        return ValueSearchAgent.trains(config, env) or config.proposal == "online"

    # ------------------------------------------------------------------ the proposal policy

    def _build(self, env) -> None:
        cfg = self.config
        self.policy = None
        if cfg.proposal == "uniform":
            return
        if cfg.proposal == "checkpoint":
            self.policy = PPOProposal.from_checkpoint(cfg.proposal_checkpoint, self.codec, self.name)
            return
        torch.manual_seed(self.seed)
        head = cfg.head or default_head(self.space)
        self.policy = ImitationPolicy(self.codec, self.obs_dim, head, (cfg.proposal_hidden,) * 2, cfg.proposal_lr,
                                      self.name, None if head == "autoregressive" else self.items)
        self.taught_obs: list[np.ndarray] = []
        self.taught_act: list[np.ndarray] = []

    def chosen(self) -> dict:
        chosen = super().chosen()
        if isinstance(self.policy, ImitationPolicy):
            chosen.update(head=self.policy.head, torso="mlp" if self.policy.net.items is None else "items")
        return chosen

    def state_dict(self) -> dict:
        state = super().state_dict()
        if isinstance(self.policy, ImitationPolicy):
            state["proposal"] = self.policy.net.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "proposal" in state:
            self.policy.net.load_state_dict(state["proposal"])

    def _proposal(self, obs, info):
        """``proposal(count, rng) -> (actions, log_probs)`` for ``search.maximize``: samples of the
        policy at ``obs``, in search's action form."""

        def propose(count, rng):
            return self.policy.sample(obs, info, count, torch.Generator().manual_seed(int(rng.integers(2**63))))

        return propose

    def _search(self, obs, info, budget: int):
        cfg = self.config
        proposal = None if self.policy is None else self._proposal(obs, info)
        method = cfg.method if cfg.refine else "random"
        opts = search.method_options(method, restarts=cfg.restarts)
        result = search.maximize(
            self._landscape(obs), self.codec.search_space, method, budget, seed=int(self.rng.integers(2**63)),
            proposal=proposal, mask=self.codec.search_mask(info), **opts,
        )
        self.last_evaluations = result.evaluations
        return self.codec.to_env(result.action)

    def _learn_from_search(self, obs, info, action) -> None:
        """One maximum-likelihood step of the proposal on recent searched decisions (AQL)."""
        if not isinstance(self.policy, ImitationPolicy):
            return
        self.taught_obs.append(np.asarray(obs, dtype=np.float32).reshape(-1))
        self.taught_act.append(self.policy.target(action))
        if len(self.taught_obs) < PROPOSAL_BATCH:
            return
        idx = self.rng.integers(0, len(self.taught_obs), PROPOSAL_BATCH)
        self.cost.gradient_steps += 1
        self.policy.learn(np.stack([self.taught_obs[i] for i in idx]), np.stack([self.taught_act[i] for i in idx]))

    def _train_without_value(self, env, steps: int, log) -> None:
        """With an oracle or heuristic value only the proposal learns: act by search, teach it."""
        if not isinstance(self.policy, ImitationPolicy):
            return
        cfg = self.config
        train_budget = cfg.train_budget or cfg.budget
        obs, info = env.reset(seed=self.seed)
        for step in range(steps):
            action = self._search(obs, info, train_budget)
            self.cost.search_evaluations += self.last_evaluations
            self._learn_from_search(obs, info, action)
            obs, _, terminated, truncated, info = env.step(action)
            self.cost.env_steps += 1
            if terminated or truncated:
                obs, info = env.reset()
            tick(log, step + 1)


class PPOProposal:
    """A trained ``ppo`` agent's policy as a fixed proposal, with ``ImitationPolicy``'s ``sample``
    (``propose-search``'s checkpoint proposal, ``filtered``'s ppo generator)."""

    def __init__(self, agent, codec, owner: str = "ppo proposal"):
        if agent.space != codec.space:
            raise ValueError(f"{owner}: the ppo policy acts in {agent.space}, this env in {codec.space}")
        self.agent, self.codec = agent, codec

    @classmethod
    def from_checkpoint(cls, path, codec, owner: str) -> PPOProposal:
        """The policy of the ppo checkpoint at ``path``; ``owner`` names the agent in errors."""
        from standin.agents import checkpoint

        agent, _, payload = checkpoint.load(path)
        if payload["agent"] != "ppo":
            raise ValueError(f"{owner}: {path} holds a {payload['agent']!r} agent; a ppo checkpoint is needed")
        return cls(agent, codec, owner)

    @torch.no_grad()
    def sample(self, obs, info, count: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``count`` of the ppo policy's actions at ``obs`` in search's form, and their log-probabilities."""
        ppo = self.agent
        dist = ppo.net.policy(ppo._obs(obs).expand(count, -1), ppo._mask(info, batched=False))
        actions = dist.sample(generator)
        env_actions = ppo._to_env(actions, count).reshape(count, -1)
        if ppo.nvec is not None:  # component values from 0, as search counts them
            env_actions = env_actions.astype(np.int64) - ppo.start
        return env_actions, dist.log_prob(actions).double().numpy()

    @torch.no_grad()
    def sample_batch(self, obs: np.ndarray, count: int, generator: torch.Generator) -> np.ndarray:
        """``count`` of the policy's actions at each of ``obs`` ``(B, …)`` (no action masks), as the
        env takes them: ``(B, count, *shape)``."""
        ppo = self.agent
        B = len(obs)
        dist = ppo.net.policy(ppo._obs(obs))  # once per observation, then ``count`` draws from it
        draws = torch.stack([dist.sample(generator) for _ in range(count)], dim=1)
        return ppo._to_env(draws.reshape(B * count, *draws.shape[2:]), B * count).reshape(B, count, *ppo.action_shape)
