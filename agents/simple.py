"""Reference agents that don't learn: ``random`` and ``oracle``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from standin.agents.common import TrainingCost, sample_action


@dataclass
class RandomConfig:
    """Uniform over the action space (the 0.0 end of normalised scores)."""


class RandomAgent:
    Config = RandomConfig
    kind = "reference"

    @staticmethod
    def trains(config, env=None) -> bool:
        return False

    def __init__(self, config: RandomConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self.last_evaluations = 0
        self.cost = TrainingCost()  # nothing: these agents don't train

    def fit(self, env, steps: int, log=None) -> None:
        self.space = env.action_space
        self.space.seed(self.seed)

    def act(self, obs, info) -> np.ndarray:
        return sample_action(self.space, info)


@dataclass
class OracleConfig:
    """The environment's own ``optimal_action()`` (the 1.0 end of normalised scores)."""


class OracleAgent:
    Config = OracleConfig
    kind = "reference"

    @staticmethod
    def trains(config, env=None) -> bool:
        return False

    def __init__(self, config: OracleConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self.last_evaluations = 0
        self.cost = TrainingCost()  # nothing: these agents don't train

    def fit(self, env, steps: int, log=None) -> None:
        if not hasattr(env.unwrapped, "optimal_action"):
            name = env.spec.id if env.spec else type(env.unwrapped).__name__
            hint = ""
            if hasattr(env.unwrapped, "landscape"):
                kind = getattr(env.unwrapped, "landscape_kind", "oracle")
                hint = f"; its landscape() can stand in: value-search with value={kind!r}"
            raise ValueError(f"oracle: {name} has no optimal_action() (no known optimum){hint}")
        self.env = env.unwrapped
        env.reset(seed=self.seed)
        self.env.optimal_action()  # compiles what it needs before any timed decision; errors show now

    def act(self, obs, info) -> np.ndarray:
        return self.env.optimal_action()
