"""Exploration rules: how a learner's training actions depart from what its search picks.

A rule is a part an agent is built from (``value-search`` builds one from ``config.exploration``,
or takes one as ``exploration=``). At each training step after warm-up the agent asks
:meth:`Exploration.explores` (one draw of its random stream, with probability ``epsilon``); a rule
that ``replaces_search`` then takes a uniform random action without searching, the others search
and hand the search's action to :meth:`Exploration.around`, which returns the action to take.

- :class:`UniformExploration`: ε-greedy, a uniform random action instead;
- :class:`MovesExploration`: the search's action after a few random moves of the space (flip a bit,
  swap an item, change a component), so exploration stays near what the value rates best;
- :class:`BoltzmannExploration`: at every decision, a draw from the search's action and its one-move
  neighbours with probability ∝ ``exp(Q̂(s, a) / temperature)`` (near-ties tried often, clearly
  worse moves rarely).
"""

from __future__ import annotations

import numpy as np
import torch

from standin.agents.common import Bound
from standin.search.sampling import neighbours


class Exploration:
    """The interface: with probability ``epsilon`` a step explores; the default keeps the search's action.

    Args:
        epsilon: probability that a training step explores.
    """

    replaces_search = False
    """True: an exploring step takes a uniform random action and skips the search."""

    def __init__(self, epsilon: float = 0.1):
        self.epsilon = epsilon
        self.bound: Bound | None = None
        self.value = None

    def bind(self, bound: Bound, value) -> None:
        """Bind to the env ``bound`` describes and the agent's value model (``value.net``: the
        learned ``Q̂``, or None)."""
        self.bound, self.value = bound, value

    def explores(self) -> bool:
        """Whether this step explores: one draw of the agent's stream, at every step (warm-up too)."""
        return self.bound.rng.random() < self.epsilon

    def around(self, obs, info, action, explore: bool):
        """The action to take, given the search's ``action`` and whether this step explores."""
        return action


class UniformExploration(Exploration):
    """ε-greedy: an exploring step takes a uniform random action, without searching."""

    replaces_search = True


class MovesExploration(Exploration):
    """An exploring step takes the search's action after ``moves`` uniformly random moves of the
    space (the action mask respected)."""

    def __init__(self, epsilon: float = 0.1, moves: int = 1):
        super().__init__(epsilon)
        self.moves = moves

    def around(self, obs, info, action, explore: bool):
        if not explore:
            return action
        codec, rng = self.bound.codec, self.bound.rng
        space = codec.search_space
        moves = space.moves(codec.search_mask(info))
        x = codec.encode(action)
        for _ in range(self.moves):
            around = neighbours(moves, x)
            if len(around):
                x = around[rng.integers(len(around))]
        return codec.to_env(space.decode(x))


class BoltzmannExploration(Exploration):
    """Every step (whatever ``explores`` says) takes a draw from the search's action and its one-move
    neighbours, with probability ∝ ``exp(Q̂(s, a) / temperature)`` under the learned value (its unit:
    the early rewards' root mean square, ``value_search.reward_scale``)."""

    def __init__(self, epsilon: float = 0.1, temperature: float = 0.1):
        super().__init__(epsilon)
        self.temperature = temperature

    def around(self, obs, info, action, explore: bool):
        codec, rng = self.bound.codec, self.bound.rng
        x = codec.encode(action)
        around = neighbours(codec.search_space.moves(codec.search_mask(info)), x)
        candidates = np.concatenate([x[None].astype(np.int8), around])
        with torch.no_grad():
            states = torch.as_tensor(np.ravel(obs), dtype=torch.float32).expand(len(candidates), -1)
            q = self.value.net(states, torch.from_numpy(candidates.astype(np.float32))).double().numpy()
        p = np.exp((q - q.max()) / self.temperature)
        pick = candidates[rng.choice(len(candidates), p=p / p.sum())]
        return codec.to_env(codec.search_space.decode(pick))
