"""Proposals: where a search's candidate actions come from, as parts an agent is built from.

A proposal is bound to the env once (``bind``, with the agent's :class:`~agents.common.Bound`), then
at each decision gives ``search.maximize`` a sampler of candidates at the current state
(``sampler(obs, info)``, or None for uniform ones), and may learn from the action the search picked
(``learn``). The agent decides what the candidates are for: with ``refine`` they seed its method's
restarts (local search from each); without, they are only scored (``random`` search), the best taken.

- :class:`UniformProposal`: uniform random candidates (random shooting, the no-learning baseline);
- :class:`OnlineProposal`: a policy with one of PPO's heads, trained while acting by maximum
  likelihood on the search's picks (AQL's proposal, Van de Wiele et al., 2020);
- :class:`CheckpointProposal`: a trained ``ppo`` agent's policy, fixed (:class:`PPOProposal`).

An agent class names its default in ``proposal_for(config)``: value-search's is none (its method's
own random starts), propose-search's the one its config names; ``proposal=`` passes any other in.
A proposal of your own subclasses :class:`Proposal` (docs/adding-an-agent.md).
"""

from __future__ import annotations

import numpy as np
import torch

from standin.agents.common import Bound
from standin.agents.heads import default_head
from standin.agents.imitation import ImitationPolicy

PROPOSAL_BATCH = 64
"""Searched decisions per maximum-likelihood step of the online proposal."""


class Proposal:
    """The interface, and the defaults: nothing to learn, nothing to save.

    Args:
        refine: seed the search method's restarts with the candidates (local search from each),
            instead of only scoring them (``random`` search).
    """

    learns = False
    """Whether ``learn`` changes anything (an agent with a fixed value still trains for it)."""

    def __init__(self, refine: bool = False):
        self.refine = refine
        self.bound: Bound | None = None

    def bind(self, bound: Bound) -> None:
        """Build what the proposal needs for the env ``bound`` describes; called by the agent's ``fit``."""
        self.bound = bound

    def sampler(self, obs, info):
        """``proposal(count, rng) -> (actions, log_probs)`` for ``search.maximize`` at this state, in
        search's action form; None for uniform random candidates."""
        return None

    def learn(self, obs, info, action) -> None:
        """Called in training after each decision the search made (``action``, as the env takes it)."""

    def chosen(self) -> dict:
        """What ``bind`` chose from the env (merged into the agent's ``chosen()``)."""
        return {}

    def state_dict(self) -> dict:
        """Trained weights (saved under ``"proposal"`` in the agent's checkpoint); {} for none."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class UniformProposal(Proposal):
    """Uniform random candidates: random shooting, or the method's own random starts with ``refine``."""


class PolicyProposal(Proposal):
    """Candidates sampled from ``self.policy`` (anything with ``sample(obs, info, count, generator)``),
    which subclasses set in ``bind``."""

    def __init__(self, refine: bool = False):
        super().__init__(refine)
        self.policy = None

    def sampler(self, obs, info):
        policy = self.policy

        def propose(count, rng):
            return policy.sample(obs, info, count, torch.Generator().manual_seed(int(rng.integers(2**63))))

        return propose


class CheckpointProposal(PolicyProposal):
    """The policy of a trained ``ppo`` agent loaded from ``path``, fixed: the search prunes what the
    direct policy babbles."""

    def __init__(self, path: str, refine: bool = False):
        super().__init__(refine)
        self.path = path

    def bind(self, bound: Bound) -> None:
        super().bind(bound)
        self.policy = PPOProposal.from_checkpoint(self.path, bound.codec, bound.owner)


class OnlineProposal(PolicyProposal):
    """A policy trained while acting by maximum likelihood on the actions the search picks (AQL): the
    search teaches the proposal, and a better proposal makes the next search's job easier.

    Args:
        head: PPO's head (``factored``, ``autoregressive``, ``without-replacement``); None: the
            default for the space (``heads.default_head``).
        hidden: widths of the hidden layers.
        lr: Adam learning rate.
        refine: as :class:`Proposal`.
    """

    learns = True

    def __init__(self, head: str | None = None, hidden=(64, 64), lr: float = 1e-3, refine: bool = False):
        super().__init__(refine)
        self.head, self.hidden, self.lr = head, tuple(hidden), lr
        self.taught_obs: list[np.ndarray] = []
        self.taught_act: list[np.ndarray] = []

    def bind(self, bound: Bound) -> None:
        super().bind(bound)
        torch.manual_seed(bound.seed)
        head = self.head or default_head(bound.space)
        self.policy = ImitationPolicy(bound.codec, bound.obs_dim, head, self.hidden, self.lr, bound.owner,
                                      None if head == "autoregressive" else bound.items)
        self.taught_obs, self.taught_act = [], []

    def learn(self, obs, info, action) -> None:
        """One maximum-likelihood step on ``PROPOSAL_BATCH`` of the searched decisions so far, drawn
        with the agent's stream, once there are that many."""
        self.taught_obs.append(np.asarray(obs, dtype=np.float32).reshape(-1))
        self.taught_act.append(self.policy.target(action))
        if len(self.taught_obs) < PROPOSAL_BATCH:
            return
        idx = self.bound.rng.integers(0, len(self.taught_obs), PROPOSAL_BATCH)
        self.bound.cost.gradient_steps += 1
        self.policy.learn(np.stack([self.taught_obs[i] for i in idx]), np.stack([self.taught_act[i] for i in idx]))

    def chosen(self) -> dict:
        return {"head": self.policy.head, "torso": "mlp" if self.policy.net.items is None else "items"}

    def state_dict(self) -> dict:
        return self.policy.net.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.policy.net.load_state_dict(state)


class PPOProposal:
    """A trained ``ppo`` agent's policy as a fixed proposal, with ``ImitationPolicy``'s ``sample``
    (:class:`CheckpointProposal`'s policy, ``filtered``'s ppo generator)."""

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
