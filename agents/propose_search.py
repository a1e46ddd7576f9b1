"""``propose-search``: babble and prune. A proposal policy samples candidates; a value keeps the best.

The generator-plus-classifier pattern, and the amortised maximisation of AQL (Van de Wiele et al.,
2020): at each decision a proposal policy ``π(a | s)`` samples ``budget`` candidate actions and the
value (the env's landscape, or a learned ``Q̂`` exactly as in ``value-search``) scores them; the best
is taken. With ``refine``, the candidates instead seed the restarts of ``method`` (local search from
each proposal), sharing the same budget.

The proposal (``proposal``, built as a part from ``agents.proposals``):

- ``uniform``: uniform random candidates (random shooting: the no-learning baseline);
- ``online``: a policy with one of PPO's heads (``head``), trained while acting by maximum
  likelihood on the actions the search picks, as AQL trains its proposal: the search teaches the
  proposal, and a better proposal makes the next search's job easier;
- ``checkpoint``: a trained ``ppo`` agent's policy, fixed.

Everything else (values, Q-learning with search in the Bellman target, exploration, the shortfall
split) is ``value-search``'s: this agent is value-search built with a proposal part, overriding
nothing it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from standin.agents.ppo import HEADS
from standin.agents.proposals import CheckpointProposal, OnlineProposal, Proposal, UniformProposal
from standin.agents.value_search import ValueSearchAgent, ValueSearchConfig


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


def proposal_part(config: ProposeSearchConfig) -> Proposal:
    """The proposal ``config`` names (``agents.proposals``), with its settings."""
    if config.proposal == "uniform":
        return UniformProposal(config.refine)
    if config.proposal == "checkpoint":
        return CheckpointProposal(config.proposal_checkpoint, config.refine)
    return OnlineProposal(config.head, (config.proposal_hidden,) * 2, config.proposal_lr, config.refine)


class ProposeSearchAgent(ValueSearchAgent):
    """``value-search`` built with the proposal its config names (:func:`proposal_part`); every other
    part, and what the agent does with them, is value-search's (a ``proposal`` passed in replaces the
    config's)."""

    Config = ProposeSearchConfig
    name = "propose-search"
    proposal_for = staticmethod(proposal_part)
