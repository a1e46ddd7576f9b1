"""``value-search``: a value ``Q(s, a)`` plus a hard-coded search that maximises it at decision time.

The value is the environment's own reward landscape (``value="oracle"``, a stand-in for a perfect
value net, or ``value="heuristic"`` where the env labels its landscape a hand-written heuristic), a
learned ReLU MLP on ``[obs, action]`` (``value="mlp"``, exported per state as a ``search.MLP``
whose first layer search updates incrementally), or a learned low-rank quadratic
(``value="quadratic"``):

    Q(c, a) = b(c) + h(c)·a + aᵀ U(c) diag(σ) U(c)ᵀ a,    U(c) = [U₀ | U₁(c)],

with ``b, h, U₁`` produced by an MLP on the observation, ``U₀`` a learned matrix shared by all
states and ``σ`` a learned vector (its signs decide whether each rank-one term is concave or
convex). Of the ``rank`` columns of ``U``, ``context_rank`` depend on the state: a pairwise term
that is mostly shared across states with a few state-dependent directions (Landscape-v0's true
``J(c)`` is exactly a fixed matrix plus a rank-2 correction along the target) costs ``n·context_rank``
outputs instead of ``n·rank``, which keeps training cheap at large ``n``. The learned value is exported per state
as a ``search.Quadratic``; search never sees torch.

Training (``quadratic``, ``mlp``) is Q-learning from a replay buffer of the agent's own transitions
(uniform random actions for ``warmup_steps``, then the search's action, explored around as
``exploration`` says), with a target network copied every ``target_update`` gradient steps. Rewards
are regressed in units of their early root mean square (``reward_scale``), so learning rates and
Boltzmann temperatures mean the same on every env. The max in the Bellman target ``r + γ max_a'
Q_target(s', a')`` is itself a search (``target_search``, with its own ``target_budget``): search
stands in for the policy in training as well as in acting. Steps that end an episode are not
bootstrapped, so on a bandit such as Landscape-v0 (every step terminates) this is exactly
regression on rewards. Gradient steps start once ``learning_starts`` transitions are stored (a tenth
of the budget by default) and end with ``final_updates`` more on everything stored, at a rate decayed
to 0 (as many as the online phase took, by default); ``ensemble`` networks can be trained side by
side, search maximising their mean.

The agent is built from parts, each replaceable by passing one in (``ValueSearchAgent``): the value
model (:class:`EnvValue` or :class:`LearnedValue`), the proposal of the search's candidates
(``agents.proposals``; ``propose-search`` is this agent with one), the exploration rule
(``agents.exploration``) and the replay buffer (``agents.replay``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from standin import search
from standin.agents.common import ActionCodec, Bound, NullLogger, TrainingCost, sample_action, seed_everything, tick
from standin.agents.exploration import BoltzmannExploration, Exploration, MovesExploration, UniformExploration
from standin.agents.export import MeanEnsemble, mlp_landscape, mlp_stack
from standin.agents.items import ItemMLPQ, ItemQuadraticQ
from standin.agents.layout import choose_torso
from standin.agents.proposals import Proposal
from standin.agents.replay import Replay

LOG_EVERY = 250
"""Training curves are logged as means over this many environment steps."""
SPLIT_EXHAUSTIVE = 2**16
"""The shortfall split enumerates the action space up to this many actions."""
SPLIT_EXACT_BITS = 40
"""...then asks the MIP solver for a certified optimum of a quadratic value up to this many bits."""
SPLIT_EXACT_SECONDS = 5.0
"""...within this many seconds; otherwise (or uncertified) it runs the agent's search at 100× its budget."""
FIT_ACTIONS = 32
"""Uniform random actions per split decision on which the learned value's regression error is measured."""


@dataclass
class ValueSearchConfig:
    """Learned or oracle value, maximised by a search at every decision."""

    value: Literal["oracle", "heuristic", "quadratic", "mlp"] | None = None
    """Which value to search: the env's ``landscape()`` (``oracle`` where the env labels it the true
    reward, ``heuristic`` where it labels it a hand-written stand-in), a learned low-rank quadratic
    (O(rank) per move: fast to search, limited to pairwise interactions) or a learned ReLU MLP on
    ``[obs, action]`` (any interaction; O(hidden) per move and the upper layers on top). None: the
    env's own landscape where it has one (as the env labels it), else a learned quadratic."""
    method: Literal["exhaustive", "random", "greedy", "anneal", "tabu", "cem", "beam"] = "anneal"
    """Search method passed to ``search.maximize`` (see docs/search.md)."""
    budget: int = 1000
    """Landscape evaluations per decision."""
    restarts: int = 1
    """Independent restarts that share the budget (``anneal`` and ``tabu``)."""
    train_budget: int | None = None
    """Evaluations per decision while training; defaults to ``budget``."""
    rank: int = 16
    """Rank ``r`` of the learned pairwise term (quadratic value)."""
    context_rank: int = 2
    """How many of the ``rank`` directions depend on the observation (the rest are shared)."""
    hidden: int = 64
    """Width of the two hidden layers of the value network (the quadratic's torso, or the MLP)."""
    ensemble: int = 1
    """Learned value networks trained side by side on the same data from different initialisations;
    search maximises their mean, exported exactly (a quadratic of ``ensemble`` times the rank, an MLP
    ``ensemble`` times as wide). Averaging cancels part of each network's errors, which search
    would otherwise seek out (the optimiser's curse); training and search cost grow with it."""
    torso: Literal["mlp", "items"] | None = None
    """The learned value's network: ``mlp`` on the flat observation, or ``items``, a permutation-equivariant
    network over the rows of an item-structured observation (one row per action item, ``agents.layout``),
    whose per-item outputs give each item its linear and pairwise terms (``agents.items``; the quadratic's
    ``context_rank`` and shared directions then don't apply: every direction comes from the items). None:
    ``items`` when the observation is item-structured, else ``mlp``. propose-search's proposal follows it."""
    lr: float = 3e-3
    """Adam learning rate. 3e-3 rather than 1e-3: on Landscape-v0 at n = 4 (16 actions) with 2·10⁴
    steps it lifted the learned quadratic + exhaustive search from 0.93 to 0.95 normalised return
    (α = 2) and to 0.98 (α = 0.25), 2 seeds each (docs/protocol.md)."""
    anneal_lr: bool = False
    """Anneal the learning rate linearly to 0 over training (as ``ppo`` does)."""
    batch_size: int = 128
    """Regression minibatch size."""
    buffer_size: int = 100_000
    """Replay capacity (oldest samples are overwritten)."""
    warmup_steps: int = 500
    """Steps of uniform random actions before acting by search."""
    learning_starts: int | None = None
    """Environment steps stored before the first gradient step. None: a tenth of the training budget
    (at least ``batch_size``). Starting on a handful of samples and replaying them thousands of times
    commits the network to an early fit it never recovers from (the primacy bias of Nikishin et al.,
    2022): on Landscape-v0 at n = 4, α = 1, 2·10⁴ steps, starting at 128 samples the learned quadratic
    + exhaustive search scored 0.88 normalised return; starting at 2000, 0.95 (MLP: 0.87 → 0.93; 2
    seeds; docs/protocol.md). Until then the agent acts as it would (warm-up, then the untrained
    value's search)."""
    epsilon: float = 0.1
    """Probability of an exploratory action after warm-up (``uniform`` and ``moves``; ``boltzmann``
    explores at every decision, as much as ``temperature`` says)."""
    exploration: Literal["uniform", "moves", "boltzmann"] = "uniform"
    """The exploratory action: ``uniform`` random; ``moves``: the search's action changed by
    ``explore_moves`` random moves of the space (flip a bit, swap an item, change a component), so
    exploration stays near what the value rates best; ``boltzmann``: a candidate drawn with
    probability ∝ ``exp(Q̂(s, a) / temperature)`` from the search's action and every action one move
    from it (near-ties are tried often, clearly worse moves rarely)."""
    explore_moves: int = 1
    """Random moves per exploratory action (``exploration="moves"``)."""
    temperature: float = 0.1
    """Temperature of ``exploration="boltzmann"``, in the learned value's unit (the early rewards'
    root mean square; see ``reward_scale``)."""
    updates_per_step: int = 1
    """Gradient steps each time the learner trains (every ``train_every`` environment steps)."""
    final_updates: int | None = None
    """Gradient steps after the last environment step, on everything stored, with the learning rate
    decayed from ``lr`` to 0 along a cosine: a consolidation that spends compute, not environment steps.
    None: as many as training took before it (doubling the gradient steps); 0: none. The online fit
    stops on a constant rate, with its newest samples replayed least; the refit settles the value on
    all of them. At n = 4 (16 actions), 2·10⁴ steps, it lifted the learned quadratic + anneal from
    0.947 to 0.971 normalised return on Landscape-v0 (α = 1; MLP 0.926 → 0.963; docs/protocol.md)."""
    train_every: int = 1
    """Environment steps between training rounds (DQN-style learners use 4, with ``updates_per_step=1``:
    a quarter of the gradient steps for the same data, the cheap setting for item networks over many
    items, whose gradient step costs far more than an env step)."""
    gamma: float = 0.99
    """Discount of the Bellman target ``r + γ max_a' Q_target(s', a')`` (episodes that terminate, like
    every step of a bandit, are not bootstrapped, so bandits regress on rewards whatever ``γ``)."""
    target_search: bool = True
    """The max in the Bellman target by search over the target network (``method`` with
    ``target_budget``, as QT-Opt and AQL do); False: the value of the action the agent took next
    (SARSA: the acting policy's own proposal, no search)."""
    target_budget: int = 64
    """Evaluations per target max (one search per sampled transition that bootstraps)."""
    target_update: int = 250
    """Gradient steps between copies of the value network into the target network."""

    def __post_init__(self):
        rules = [
            ("budget", self.budget >= 1, ">= 1"),
            ("restarts", 1 <= self.restarts <= self.budget, "in 1..budget"),
            ("train_budget", self.train_budget is None or self.train_budget >= 1, ">= 1 or None"),
            ("rank", self.rank >= 1, ">= 1"),
            ("context_rank", 0 <= self.context_rank <= self.rank, "in 0..rank"),
            ("hidden", self.hidden >= 1, ">= 1"),
            ("ensemble", self.ensemble >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("buffer_size", self.buffer_size >= self.batch_size, ">= batch_size"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("learning_starts", self.learning_starts is None or self.learning_starts >= 0, ">= 0 or None"),
            ("epsilon", 0.0 <= self.epsilon <= 1.0, "in [0, 1]"),
            ("explore_moves", self.explore_moves >= 1, ">= 1"),
            ("temperature", self.temperature > 0, "> 0"),
            ("updates_per_step", self.updates_per_step >= 0, ">= 0"),
            ("train_every", self.train_every >= 1, ">= 1"),
            ("final_updates", self.final_updates is None or self.final_updates >= 0, ">= 0 or None"),
            ("gamma", 0.0 <= self.gamma <= 1.0, "in [0, 1]"),
            ("target_budget", self.target_budget >= 1, ">= 1"),
            ("target_update", self.target_update >= 1, ">= 1"),
        ]
        for name, ok, allowed in rules:
            if not ok:
                raise ValueError(f"value-search: {name} must be {allowed}, got {getattr(self, name)!r}")


class LowRankQuadraticQ(nn.Module):
    """``Q(c, a) = b(c) + h(c)·a + Σ_k σ_k (U_k(c)·a)²`` for binary ``a``, ``U(c) = [U₀ | U₁(c)]``."""

    def __init__(self, obs_dim: int, n: int, rank: int, context_rank: int, hidden: int):
        super().__init__()
        self.n, self.rank, self.context_rank = n, rank, context_rank
        self.torso = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 1 + n + n * context_rank)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)
        self.shared = nn.Parameter(0.01 * torch.randn(n, rank - context_rank))
        self.sigma = nn.Parameter(-torch.ones(rank))

    def _outputs(self, obs: torch.Tensor):
        out = self.head(self.torso(obs))
        own = out[:, 1 + self.n :].reshape(out.shape[0], self.n, self.context_rank)
        return out[:, 0], out[:, 1 : 1 + self.n], own

    def parts(self, obs: torch.Tensor):
        """``b (B,)``, ``h (B, n)`` and ``U (B, n, rank)`` of a batch of observations."""
        b, h, own = self._outputs(obs)
        U = torch.cat([self.shared.expand(len(b), -1, -1), own], dim=2) / np.sqrt(self.n)
        return b, h, U

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # U·a without building U: the shared columns are one matmul for the whole batch
        b, h, own = self._outputs(obs)
        proj = torch.cat([action @ self.shared, torch.einsum("bnr,bn->br", own, action)], dim=1) / np.sqrt(self.n)
        return b + (h * action).sum(-1) + (proj.square() * self.sigma).sum(-1)

    def landscape(self, obs: np.ndarray) -> search.Quadratic:
        """The value of one observation as a ``search.Quadratic`` over the action bits."""
        return self.landscapes(np.reshape(obs, (1, -1)))[0]

    @torch.no_grad()
    def landscapes(self, obs: np.ndarray) -> search.QuadraticStack:
        """The values of a batch of observations ``(B, obs_dim)``, from one forward pass, stacked."""
        b, h, U = self.parts(torch.as_tensor(obs, dtype=torch.float32).reshape(len(obs), -1))
        b, h, U, sigma = b.double().numpy(), h.double().numpy(), U.double().numpy(), self.sigma.double().numpy()
        return search.QuadraticStack.from_factors(b, h, U, sigma)


class MLPQ(nn.Module):
    """``Q(c, a) = MLP([c, a])``: a ReLU network on the observation and the action's binary encoding,
    exported per state as a ``search.MLP`` (the observation folded into the first layer's bias)."""

    def __init__(self, obs_dim: int, n: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + n, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, action], dim=-1)).squeeze(-1)

    def landscape(self, obs: np.ndarray) -> search.MLP:
        """The value of one observation as a ``search.MLP`` over the action bits."""
        return mlp_landscape(self.net, obs)

    def landscapes(self, obs: np.ndarray) -> search.MLPStack:
        """The values of a batch of observations ``(B, obs_dim)``, stacked."""
        return mlp_stack(self.net, obs)


def value_network(kind: str, codec, obs_dim: int, items, rank: int, context_rank: int, hidden: int) -> nn.Module:
    """A learned ``Q(s, a)`` exportable to search: ``kind`` ``"quadratic"`` or ``"mlp"``, on the
    observation's items (``items``, an ``agents.layout.ItemLayout``) or flat (``items=None``), over
    ``codec``'s action encoding. value-search regresses returns on it; the catastrophe classifier
    (``agents.filtered``) fits a logit."""
    if items is not None:
        nvec = items.values if isinstance(codec.search_space, search.Discrete) else None
        # one mixing block: the item network runs on every item of every sample of each batch (at
        # n = 50 items a gradient step of two blocks took about 45 ms, most of Q-learning's time)
        if kind == "mlp":
            return ItemMLPQ(items.features, items.global_features, nvec, hidden=hidden, layers=1)
        return ItemQuadraticQ(items.features, items.global_features, nvec, rank=rank, hidden=hidden, layers=1)
    if kind == "mlp":
        return MLPQ(obs_dim, codec.m, hidden)
    return LowRankQuadraticQ(obs_dim, codec.m, rank, context_rank, hidden)


def value_kind(value: str | None, env=None) -> str:
    """The value ``value-search`` searches on ``env`` (an env or its class): ``value`` itself, or for
    None the env's own landscape where it has one (``oracle`` or ``heuristic``, as its
    ``landscape_kind`` says), else ``quadratic`` (also when no env is given)."""
    if value is not None:
        return value
    inner = env if isinstance(env, type) else getattr(env, "unwrapped", env)  # an env, or its class
    if inner is not None and hasattr(inner, "landscape"):
        return getattr(inner, "landscape_kind", "oracle")
    return "quadratic"


def reward_scale(rewards: np.ndarray) -> float:
    """The unit the learned value regresses in: the root mean square of the rewards stored before the
    first gradient step (``learning_starts``: the warm-up's random actions, then the untrained value's
    picks), so targets are O(1) whatever the env's reward scale (Knapsack's are
    about 10³, Landscape's about 1); 1 when they are all 0. Not centred: shifting rewards would
    change what ending an episode is worth."""
    rms = float(np.sqrt(np.mean(np.square(rewards, dtype=np.float64))))
    return rms if rms > 1e-8 else 1.0


class EnvValue:
    """The env's own ``landscape()`` as the value: ``oracle`` where the env labels it the true
    reward, ``heuristic`` where it labels it a hand-written stand-in. Nothing to learn."""

    learns = False
    net = None

    def __init__(self, kind: Literal["oracle", "heuristic"]):
        self.kind = kind
        self.env = None

    def bind(self, bound: Bound, method: str) -> None:
        """Check that the env has a landscape of this kind, and compile ``method``'s kernels for its
        form and move set before any timed decision."""
        env, self.env = bound.env, bound.unwrapped
        name = env.spec.id if env.spec else type(self.env).__name__
        if not hasattr(self.env, "landscape"):
            raise ValueError(
                f"{bound.owner}: value={self.kind!r} needs an env with landscape(), and {name} has none; "
                "use value='quadratic' (a learned value)"
            )
        kind = getattr(self.env, "landscape_kind", "oracle")
        if kind != self.kind:
            raise ValueError(f"{bound.owner}: {name}'s landscape() is labelled {kind!r}, not {self.kind!r}; "
                             f"use value={kind!r}")
        # (an env's own jitted objective compiles per process: seconds, not decision time)
        if method != "exact":
            env.reset(seed=bound.seed)
            search.warmup(self.env.landscape(), bound.codec.search_space, methods=(method,))

    def landscape(self, obs):
        return self.env.landscape()


class LearnedValue:
    """A learned ``Q̂`` of kind ``quadratic`` or ``mlp`` (:func:`value_network`), or the mean of an
    ``ensemble`` of them, exported per state as a search landscape. The agent trains ``net``."""

    learns = True

    def __init__(self, kind: Literal["quadratic", "mlp"], *, rank: int = 16, context_rank: int = 2, hidden: int = 64,
                 ensemble: int = 1):
        self.kind, self.rank, self.context_rank, self.hidden, self.ensemble = kind, rank, context_rank, hidden, ensemble
        self.net: nn.Module | None = None

    def bind(self, bound: Bound, method: str) -> None:
        """Build the network(s), untrained, for the env ``bound`` describes."""
        members = [value_network(self.kind, bound.codec, bound.obs_dim, bound.items, self.rank, self.context_rank,
                                 self.hidden) for _ in range(self.ensemble)]
        self.net = members[0] if self.ensemble == 1 else MeanEnsemble(members)

    def landscape(self, obs):
        return self.net.landscape(obs)


def value_model_for(kind: str, config: ValueSearchConfig) -> EnvValue | LearnedValue:
    """The value model of ``kind`` (:func:`value_kind`) with ``config``'s settings."""
    if kind in ("oracle", "heuristic"):
        return EnvValue(kind)
    return LearnedValue(kind, rank=config.rank, context_rank=config.context_rank, hidden=config.hidden,
                        ensemble=config.ensemble)


def exploration_rule(config: ValueSearchConfig) -> Exploration:
    """``config.exploration``'s rule with its settings."""
    if config.exploration == "moves":
        return MovesExploration(config.epsilon, config.explore_moves)
    if config.exploration == "boltzmann":
        return BoltzmannExploration(config.epsilon, config.temperature)
    return UniformExploration(config.epsilon)


def no_proposal(config: ValueSearchConfig) -> None:
    """value-search's proposal: none, the search method's own random starts."""
    return None


class ValueSearchAgent:
    """A value maximised by search at every decision, built from parts.

    Args:
        config: the settings (:class:`ValueSearchConfig`); they choose every part not passed in.
        seed: the seed of everything the agent and its parts draw.
        value_model: what the search maximises: :class:`EnvValue` (the env's landscape) or
            :class:`LearnedValue` (a network trained here by Q-learning). None: ``fit`` picks it
            from ``config.value`` and the env (:func:`value_model_for`).
        proposal: where the search's candidates come from (``agents.proposals``); None: the
            class's ``proposal_for(config)`` (value-search's: none, the method's own random starts).
        exploration: how training actions depart from the search's (``agents.exploration``); None:
            ``config.exploration``'s rule (:func:`exploration_rule`).
        replay: builds the replay buffer, ``replay(capacity, obs_dim, m)`` (``agents.replay.Replay``).

    The parts are bound to the env in ``fit`` (each gets a :class:`~agents.common.Bound`), and share
    the agent's random stream and cost account.
    """

    Config = ValueSearchConfig
    name = "value-search"
    kind = "search"
    proposal_for = staticmethod(no_proposal)
    """``proposal_for(config)``: the proposal an agent of this class gets when none is passed in
    (``propose-search``'s builds the one its config names). ``trains`` asks it too."""

    def __init__(self, config: ValueSearchConfig, seed: int = 0, *, value_model: EnvValue | LearnedValue | None = None,
                 proposal: Proposal | None = None, exploration: Exploration | None = None, replay=Replay):
        self.config = config
        self.seed = seed
        self.rng = seed_everything(seed)
        self.last_evaluations = 0
        self.cost = TrainingCost()
        self.value_model = value_model
        self.proposal = self.proposal_for(config) if proposal is None else proposal
        self.exploration = exploration_rule(config) if exploration is None else exploration
        self.make_replay = replay
        self._chosen_value = value_model is None  # ``fit`` picks the value model for the env
        self.reward_scale = 1.0
        """Rewards are divided by this before regression (``reward_scale``); ``Q̂`` is in those units."""
        self.bandit: bool | None = None
        """Whether every training transition ended its episode (then ``Q = r`` and the value's fit
        is measured against the true reward); None before training."""
        self.bound: Bound | None = None
        """What ``fit`` binds the agent and its parts to (the env and what is read from it); None
        before. ``env``, ``space``, ``codec``, ``obs_dim`` and ``items`` read it."""
        self.value: str | None = None
        """The value in use (the value model's kind)."""

    @property
    def env(self):
        """The bound env, unwrapped (its ``landscape()``, ``optimal_action()``)."""
        return None if self.bound is None else self.bound.unwrapped

    @property
    def space(self):
        """The bound env's action space."""
        return None if self.bound is None else self.bound.space

    @property
    def codec(self) -> ActionCodec | None:
        """The action space in search's binary encoding, and back."""
        return None if self.bound is None else self.bound.codec

    @property
    def obs_dim(self) -> int | None:
        return None if self.bound is None else self.bound.obs_dim

    @property
    def items(self):
        """The item layout of the observations (``agents.layout``), or None for a flat torso."""
        return None if self.bound is None else self.bound.items

    @property
    def q(self) -> nn.Module | None:
        """The learned value network (None for the env's own landscape)."""
        return getattr(self.value_model, "net", None)

    def _search(self, obs, info, budget: int):
        """The search's action at this state: ``method`` from the proposal's candidates (with
        ``refine``, or without a proposal), else the best of them (``random``)."""
        cfg, proposal = self.config, self.proposal
        method = cfg.method if proposal is None or proposal.refine else "random"
        opts = search.method_options(method, restarts=cfg.restarts)
        result = search.maximize(
            self.value_model.landscape(obs), self.codec.search_space, method, budget,
            seed=int(self.rng.integers(2**63)), proposal=None if proposal is None else proposal.sampler(obs, info),
            mask=self.codec.search_mask(info), **opts,
        )
        self.last_evaluations = result.evaluations
        return self.codec.to_env(result.action)

    def _searched_in_training(self, obs, info, budget: int):
        """The search's action in training, its evaluations counted and the proposal taught by it."""
        action = self._search(obs, info, budget)
        self.cost.search_evaluations += self.last_evaluations
        if self.proposal is not None:
            self.proposal.learn(obs, info, action)
        return action

    # --------------------------------------------------------------- contract

    @classmethod
    def trains(cls, config: ValueSearchConfig, env=None) -> bool:
        """Whether training steps change anything: a learned value (not the env's own landscape), or
        a proposal that learns (which it does even over the env's landscape). With ``value=None``
        that depends on ``env`` (taken to learn when no env is given)."""
        proposal = cls.proposal_for(config)
        return value_kind(config.value, env) in ("quadratic", "mlp") or (proposal is not None and proposal.learns)

    def fit(self, env, steps: int, log=None) -> None:
        cfg = self.config
        log = log or NullLogger()
        if self._chosen_value:
            self.value_model = value_model_for(value_kind(cfg.value, env), cfg)
        self.value = self.value_model.kind
        space = env.action_space
        space.seed(self.seed)
        codec = ActionCodec(space)  # a clear error for spaces search does not support
        self.bound = Bound(env, space, codec, int(np.prod(env.observation_space.shape)),
                           choose_torso(cfg.torso, env, "factored", self.name),  # item networks, or None
                           self.seed, self.rng, self.cost, self.name)
        search.warmup()  # compile before any timed decision
        if self.proposal is not None:
            self.proposal.bind(self.bound)
        self.value_model.bind(self.bound, cfg.method)
        if self.value_model.learns:
            self.exploration.bind(self.bound, self.value_model)
            if steps > 0:
                self._train(env, steps, log)
        elif steps > 0 and self.proposal is not None and self.proposal.learns:
            self._teach_proposal(env, steps, log)

    def chosen(self) -> dict:
        """The config fields that ``fit`` chose from the env (see ``agents.Agent``)."""
        chosen = {"value": self.value}
        if self.q is not None:
            chosen["torso"] = "mlp" if self.items is None else "items"
        if self.proposal is not None:
            chosen.update(self.proposal.chosen())
        return chosen

    def state_dict(self) -> dict:
        """The trained weights (``agents.checkpoint`` saves them): the learned value's and the
        proposal's, where they have any."""
        state = {}
        if self.q is not None:
            state.update(q=self.q.state_dict(), reward_scale=torch.tensor(self.reward_scale, dtype=torch.float64),
                         bandit=torch.tensor(bool(self.bandit)))
        proposal = {} if self.proposal is None else self.proposal.state_dict()
        if proposal:
            state["proposal"] = proposal
        return state

    def load_state_dict(self, state: dict) -> None:
        if "q" in state:
            self.q.load_state_dict(state["q"])
            self.reward_scale = float(state.get("reward_scale", 1.0))
            self.bandit = bool(state["bandit"]) if "bandit" in state else None
        if "proposal" in state:
            self.proposal.load_state_dict(state["proposal"])

    def _teach_proposal(self, env, steps: int, log) -> None:
        """With a value that needs no training (oracle, heuristic), only the proposal learns: act by
        search and teach it."""
        cfg = self.config
        train_budget = cfg.train_budget or cfg.budget
        obs, info = env.reset(seed=self.seed)
        for step in range(steps):
            action = self._searched_in_training(obs, info, train_budget)
            obs, _, terminated, truncated, info = env.step(action)
            self.cost.env_steps += 1
            if terminated or truncated:
                obs, info = env.reset()
            tick(log, step + 1)

    def _targets(self, target, next_obs, next_act, next_mask, bootstrap) -> np.ndarray:
        """``max_a' Q_target(s', a')`` (or ``Q_target(s', a'_next)`` without ``target_search``) for
        the rows that bootstrap; 0 elsewhere."""
        cfg = self.config
        out = np.zeros(len(next_obs), np.float32)
        rows = np.flatnonzero(bootstrap)
        if not rows.size:
            return out
        if not cfg.target_search:
            with torch.no_grad():
                out[rows] = target(torch.from_numpy(next_obs[rows]), torch.from_numpy(next_act[rows])).numpy()
            return out
        opts = search.method_options(cfg.method, restarts=min(cfg.restarts, cfg.target_budget))
        budget = None if cfg.method == "exhaustive" else cfg.target_budget
        masks = None if next_mask is None else [next_mask[i] for i in rows]
        # one batch: landscapes of one form and size go to the search kernel in one call
        results = search.maximize_batch(target.landscapes(next_obs[rows]), self.codec.search_space, cfg.method,
                                        budget, seed=int(self.rng.integers(2**63)), masks=masks, workers=1, **opts)
        out[rows] = results.scores
        self.cost.search_evaluations += int(results.evaluations.sum())
        return out

    def _train(self, env, steps, log):
        cfg = self.config
        n, obs_dim = self.codec.m, self.obs_dim
        optim = torch.optim.Adam(self.q.parameters(), lr=cfg.lr)
        target = copy.deepcopy(self.q).requires_grad_(False)
        cap = min(cfg.buffer_size, steps)
        replay = self.make_replay(cap, obs_dim, n)
        train_budget = cfg.train_budget or cfg.budget
        learning_starts = max(cfg.batch_size, min(cap, steps // 10) if cfg.learning_starts is None
                              else cfg.learning_starts)
        if cfg.learning_starts is not None and cfg.learning_starts > cap:
            raise ValueError(f"{self.name}: learning_starts={cfg.learning_starts} exceeds the replay buffer "
                             f"({cap} = min(buffer_size, steps)), so no gradient step would ever run")

        def update(size: int) -> float:
            """One gradient step on a minibatch of the first ``size`` stored transitions; its loss."""
            nonlocal updates
            b = replay.batch(self.rng.integers(0, size, cfg.batch_size))
            y = b.reward / self.reward_scale + cfg.gamma * self._targets(
                target, b.next_obs, b.next_action, b.allowed, b.bootstrap & (cfg.gamma > 0))
            states, actions = torch.from_numpy(b.obs), torch.from_numpy(b.action)
            if cfg.ensemble == 1:
                loss = torch.nn.functional.mse_loss(self.q(states, actions), torch.from_numpy(y))
            else:  # every member regresses on the targets by itself (the mean of their losses)
                pred = self.q.member_outputs(states, actions)
                loss = (pred - torch.from_numpy(y)).square().mean()
            optim.zero_grad()
            loss.backward()
            optim.step()
            updates += 1
            self.cost.gradient_steps += 1
            if updates % cfg.target_update == 0:
                target.load_state_dict(self.q.state_dict())
            return loss.item()

        obs, info = env.reset(seed=self.seed)
        episode_return, finished, losses, start = 0.0, [], [], time.perf_counter()
        updates, previous = 0, -1
        for step in range(steps):
            explore = self.exploration.explores()
            if step < cfg.warmup_steps or (explore and self.exploration.replaces_search):
                action = sample_action(self.space, info)
            else:
                action = self.exploration.around(obs, info, self._searched_in_training(obs, info, train_budget),
                                                 explore)
            encoded = self.codec.encode(action)
            if previous >= 0:
                replay.set_next_action(previous, encoded)
            next_obs, reward, terminated, truncated, info = env.step(action)
            self.cost.env_steps += 1
            mask = self.codec.search_mask(info)
            allowed = None if mask is None else self.codec.search_space.allowed(mask)
            i = replay.add(obs, encoded, reward, next_obs, not terminated, allowed)
            previous = i
            episode_return += reward
            obs = next_obs
            if terminated or truncated:
                if truncated and not terminated:  # no next action within the episode: bootstrap by search
                    replay.set_next_action(i, encoded)
                finished.append(episode_return)
                episode_return, previous = 0.0, -1
                obs, info = env.reset()
            size = replay.size
            if size >= learning_starts and (step + 1) % cfg.train_every == 0:
                if updates == 0:
                    self.reward_scale = reward_scale(replay.reward[:size])
                if cfg.anneal_lr:
                    optim.param_groups[0]["lr"] = cfg.lr * (1.0 - step / steps)
                for _ in range(cfg.updates_per_step):
                    losses.append(update(size))
            tick(log, step + 1)
            if (step + 1) % LOG_EVERY == 0 or step + 1 == steps:
                self.bandit = not replay.bootstrap[:size].any()
                if finished:
                    log.scalar("train/episodic_return", float(np.mean(finished)), step + 1)
                if losses:
                    log.scalar("train/loss/value", float(np.mean(losses)), step + 1)
                finished, losses = [], []
                log.scalar("perf/env_steps_per_s", (step + 1) / (time.perf_counter() - start), step + 1)

        final = updates if cfg.final_updates is None else cfg.final_updates
        if final and size >= learning_starts:
            for k in range(final):  # consolidate: every sample, a rate decayed to 0
                optim.param_groups[0]["lr"] = 0.5 * cfg.lr * (1.0 + np.cos(np.pi * k / final))
                update(size)

    def act(self, obs, info):
        return self._search(obs, info, self.config.budget)

    # ----------------------------------------------------------- shortfall split

    def _maxima(self, landscapes: Sequence, masks: list) -> tuple[list[np.ndarray], list[str]]:
        """The best encoding of each landscape found by the surest affordable method, and its name:
        ``exhaustive`` (exact), ``exact`` (certified by the MIP solver) or ``100x budget``. The
        ``100x budget`` searches run as one :func:`search.maximize_batch` (on threads: they are long)."""
        space = self.codec.search_space
        best: list = [None] * len(masks)
        how: list = [None] * len(masks)
        rest = []
        for b, mask in enumerate(masks):
            if space.count(space.allowed(mask)) <= SPLIT_EXHAUSTIVE:
                result = search.maximize(landscapes[b], space, "exhaustive", None, seed=0, mask=mask)
                best[b], how[b] = space.encode(result.action), "exhaustive"
                continue
            if isinstance(landscapes[b], search.Quadratic) and space.m <= SPLIT_EXACT_BITS:
                try:
                    result = search.maximize(landscapes[b], space, "exact", None, seed=0, mask=mask,
                                             time_limit=SPLIT_EXACT_SECONDS)
                    if result.info.get("proven"):
                        best[b], how[b] = space.encode(result.action), "exact"
                        continue
                except ImportError:  # the optional solver is not installed
                    pass
            rest.append(b)
        if rest:
            cfg = self.config
            opts = search.method_options(cfg.method, restarts=cfg.restarts)
            rest_masks = None if all(masks[b] is None for b in rest) else [masks[b] for b in rest]
            results = search.maximize_batch([landscapes[b] for b in rest], space, cfg.method, 100 * cfg.budget,
                                            seed=int(self.rng.integers(2**63)), masks=rest_masks, **opts)
            for b, result in zip(rest, results, strict=True):
                best[b], how[b] = space.encode(result.action), "100x budget"
        return best, how

    def shortfall(self, obs, info, action) -> dict | None:
        """Split one decision's shortfall into search error and value error.

        For a learned value ``Q̂`` on an env whose ``landscape()`` is the true reward ``r``:

        - ``search_error = Q̂(a*_Q̂) − Q̂(a)``: what the search left on the table of its own value
          (``a`` the action taken, ``a*_Q̂`` the best action under ``Q̂``);
        - ``value_error = r(a*) − r(a*_Q̂)``: what even a perfect search of ``Q̂`` loses, because
          ``Q̂``'s best action is not the true best ``a*`` (``optimal_action()`` where the env has it).

        ``split_by`` names how ``a*_Q̂`` was found: ``exhaustive``, ``exact`` or ``100x budget``
        (then the split is an estimate and ``search_error`` can come out negative). None for the
        oracle and heuristic values (no value error by definition) and for envs without an oracle
        landscape. Not part of ``act``: the runner calls it, untimed, on a sample of decisions, as
        :meth:`shortfall_capture` at each decision and :meth:`shortfall_batch` on a few at a time
        (their searches in one batch); this is the two for one decision.

        Where training saw only one-step episodes (a bandit: ``Q = r``), it also measures how well
        the value fits, in reward units: ``fit_error_uniform``, the root mean square of ``Q̂ − r`` over
        ``FIT_ACTIONS`` uniform random actions; ``fit_error_search``, ``|Q̂ − r|`` at the action
        taken; and ``overestimation``, ``Q̂(a) − r(a)`` at the action taken. The search maximises
        ``Q̂``'s errors along with ``Q̂`` (the optimiser's curse): ``overestimation`` well above the
        mean error on uniform actions says by how much. None on multi-step envs, whose ``Q`` is not
        the one-step reward.
        """
        capture = self.shortfall_capture(obs, info, action)
        return None if capture is None else self.shortfall_batch([capture])[0]

    def shortfall_capture(self, obs, info, action) -> tuple | None:
        """What :meth:`shortfall` needs from the env at this decision (its true landscape, its
        optimum where it has one, the uniform actions of the fit), kept for :meth:`shortfall_batch`;
        None where there is no split."""
        if self.q is None or getattr(self.env, "landscape_kind", None) != "oracle":
            return None
        mask, true = self.codec.search_mask(info), self.env.landscape()
        try:
            best_true = self.codec.encode(self.env.optimal_action())
        except (AttributeError, RuntimeError):  # no known optimum for this env or instance
            best_true = None
        uniform = ([self.codec.encode(sample_action(self.space, info)) for _ in range(FIT_ACTIONS)] if self.bandit
                   else None)
        return np.array(obs, copy=True), mask, true, best_true, self.codec.encode(action), uniform

    def shortfall_batch(self, captures: list) -> list[dict]:
        """The splits of the decisions captured by :meth:`shortfall_capture`: the learned values of
        their states from one forward pass (a stack), and their searches as one batch."""
        if not captures:
            return []
        obs, masks, trues, best_trues, taken, uniforms = zip(*captures, strict=True)
        learned = self.q.landscapes(np.stack(obs))
        best_learned, how = self._maxima(learned, list(masks))
        unknown = [b for b, best in enumerate(best_trues) if best is None]
        found, _ = self._maxima([trues[b] for b in unknown], [masks[b] for b in unknown]) if unknown else ([], [])
        best_trues = list(best_trues)
        for b, best in zip(unknown, found, strict=True):
            best_trues[b] = best
        out = []
        for b, true in enumerate(trues):
            q = learned[b]
            part = {
                "search_error": float(q(best_learned[b]) - q(taken[b])) * self.reward_scale,
                "value_error": float(true(best_trues[b]) - true(best_learned[b])),
                "split_by": how[b],
                "fit_error_uniform": None, "fit_error_search": None, "overestimation": None,
            }
            if uniforms[b] is not None:
                errors = [q(x) * self.reward_scale - true(x) for x in uniforms[b]]
                over = float(q(taken[b]) * self.reward_scale - true(taken[b]))
                part.update(fit_error_uniform=float(np.sqrt(np.mean(np.square(errors)))), fit_error_search=abs(over),
                            overestimation=over)
            out.append(part)
        return out
