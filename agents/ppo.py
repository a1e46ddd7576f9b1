"""``ppo``: proximal policy optimisation over combinatorial actions, with any head of ``agents.heads``.

The direct-policy baseline of the testbed: one forward pass per decision, no landscape
evaluations. The algorithm follows CleanRL's ``ppo.py`` (Huang et al., 2022, "The 37
implementation details of PPO") and reads top to bottom in ``PPOAgent.fit``:

1. a rollout of ``num_steps`` steps in each of ``num_envs`` synchronous vector envs (same-step
   autoreset; truncated episodes are bootstrapped with ``V(final_obs)``);
2. generalised advantage estimation (``gamma``, ``gae_lambda``);
3. ``update_epochs`` passes over ``num_minibatches`` shuffled minibatches with the clipped
   surrogate, an (optionally clipped) value loss and an entropy bonus; Adam (eps 1e-5), global
   gradient-norm clipping and linear learning-rate annealing.

The action head comes from ``agents.heads`` (``head``: factored Bernoulli bits or categorical
components, autoregressive, or without replacement for k-of-N spaces; one interface: ``log_prob``,
``entropy``, ``sample``, ``mode``), and ``info["action_mask"]`` is put in its layout there
(``head_mask``).

Rollouts use the environment's own vector env (``vector_entry_point``, numba dynamics) when it has
one that takes an ``autoreset_mode``, and Gymnasium's ``SyncVectorEnv`` otherwise.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from standin.agents.common import Logger, NullLogger, TrainingCost, env_spec, repair, seed_everything, tick
from standin.agents.heads import (
    AutoregressiveHead,
    BernoulliHead,
    CategoricalHead,
    WithoutReplacementDistribution,
    WithoutReplacementHead,
    default_head,
    head_mask,
)
from standin.agents.items import ItemPolicy
from standin.agents.layout import choose_torso

HEADS = ("factored", "autoregressive", "without-replacement")


@dataclass
class PPOConfig:
    """PPO (clipped surrogate, GAE) with a factored policy head (Bernoulli bits or categoricals).

    A Bernoulli per bit of ``MultiBinary(n)``; a categorical per component of ``MultiDiscrete(nvec)``
    or ``Discrete(n)``, with ``info["action_mask"]`` honoured."""

    num_envs: int = 8
    """parallel environments in each rollout (synchronous vector env)"""
    num_steps: int = 64
    """steps per environment in each rollout; a rollout holds ``num_envs * num_steps`` transitions"""
    learning_rate: float = 3e-3
    """Adam learning rate (at the start, when annealed). Higher than CleanRL's 2.5e-4: with a factored
    head over many bits each bit's signal is weak, and on Landscape-v0 (n=64, alpha=0.5, 30k steps)
    3e-3 reached 0.69 normalised return where 3e-4 reached 0.33."""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0 over training"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 4
    """minibatches each rollout is split into"""
    update_epochs: int = 4
    """passes over each rollout"""
    norm_adv: bool = True
    """normalise advantages within each minibatch"""
    norm_reward: bool = True
    """divide rewards by a running standard deviation of the discounted return (as Gymnasium's
    ``NormalizeReward`` does), so the value loss, its clipping and the gradient clip work at any
    reward scale (Knapsack-v0's rewards are about 10³; unscaled, PPO there did worse than random)"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient (also clips the value update when ``clip_vloss``)"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's value estimates, as in the PPO paper's code"""
    ent_coef: float = 0.0
    """weight of the entropy bonus (entropy of the whole action, i.e. summed over bits)"""
    vf_coef: float = 0.5
    """weight of the value loss"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    target_kl: float | None = None
    """stop a rollout's update epochs early once the approximate KL exceeds this (None: never)"""
    head: Literal["factored", "autoregressive", "without-replacement"] | None = None
    """The action head: ``factored`` (independent Bernoulli bits or categorical components),
    ``autoregressive`` (components in sequence, each conditioned on those chosen, through a masked
    MLP) or ``without-replacement`` (k-of-N spaces: k distinct items, Plackett–Luce, exact set
    log-probability); see ``agents/heads.py``. None: the head that fits the space,
    ``without-replacement`` for k-of-N spaces and ``factored`` otherwise"""
    head_hidden: int = 64
    """width of the autoregressive head's masked hidden layer"""
    torso: Literal["mlp", "items"] | None = None
    """the network under the head: ``mlp`` on the flat observation, or ``items``, one permutation-
    equivariant network over the rows of an item-structured observation (one row per action item,
    ``agents.layout``; deep sets with pooled context, ``agents.items``) that gives each item its own
    logit. None: ``items`` when the observation is item-structured and the head is not
    ``autoregressive``, else ``mlp``"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of the actor and of the (separate) critic MLP, tanh activations"""
    deterministic_eval: bool = True
    """``act`` returns the policy's mode (each bit's likelier value) instead of a sample"""

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, allowed: str) -> None:
            if not ok:
                got = getattr(self, field)
                raise ValueError(f"ppo: config field {field!r} must be {allowed}, got {got!r}")

        need(self.num_envs >= 1, "num_envs", ">= 1")
        need(self.num_steps >= 1, "num_steps", ">= 1")
        need(self.learning_rate > 0, "learning_rate", "> 0")
        need(0 < self.gamma <= 1, "gamma", "in (0, 1]")
        need(0 <= self.gae_lambda <= 1, "gae_lambda", "in [0, 1]")
        need(
            1 <= self.num_minibatches <= self.num_envs * self.num_steps,
            "num_minibatches",
            f"in 1..num_envs*num_steps ({self.num_envs * self.num_steps})",
        )
        need(self.update_epochs >= 1, "update_epochs", ">= 1")
        need(self.clip_coef > 0, "clip_coef", "> 0")
        need(self.ent_coef >= 0, "ent_coef", ">= 0")
        need(self.vf_coef >= 0, "vf_coef", ">= 0")
        need(self.max_grad_norm > 0, "max_grad_norm", "> 0")
        need(self.target_kl is None or self.target_kl > 0, "target_kl", "> 0 or None")
        need(self.head is None or self.head in HEADS, "head", f"one of {', '.join(HEADS)} or None")
        need(self.head_hidden >= 1, "head_hidden", ">= 1")
        need(self.torso in (None, "mlp", "items"), "torso", "one of 'mlp', 'items' or None")
        need(isinstance(self.hidden_sizes, (tuple, list)), "hidden_sizes", "a sequence of integers >= 1")
        self.hidden_sizes = tuple(self.hidden_sizes)  # a TOML suite gives a list
        need(
            all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in self.hidden_sizes),
            "hidden_sizes",
            "a sequence of integers >= 1",
        )


# --------------------------------------------------------------------------------- action head


# ------------------------------------------------------------------------------------ networks


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and constant bias (CleanRL's init)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, out_std: float) -> nn.Sequential:
    """A tanh MLP ``in_dim → hidden… → out_dim`` with orthogonal init; output gain ``out_std``."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [layer_init(nn.Linear(in_dim, width)), nn.Tanh()]
        in_dim = width
    layers.append(layer_init(nn.Linear(in_dim, out_dim), std=out_std))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic (→ scalar value) MLPs on a flat observation.

    ``head="factored"``: the actor MLP ends in the logits, ``n_out`` Bernoulli logits when ``nvec``
    is None, else ``C · max(nvec)`` categorical logits. Other heads (``agents.heads``) sit on the
    actor's last hidden layer: ``autoregressive`` over ``nvec`` (``[2] * n`` for bits),
    ``without-replacement`` over ``n_out`` items of which it picks ``k``.
    """

    def __init__(self, obs_dim: int, n_out: int, hidden: Sequence[int], nvec: Sequence[int] | None = None,
                 head: str = "factored", k: int | None = None, head_hidden: int = 64, items=None):
        super().__init__()
        self.head = head
        self.nvec = None if nvec is None else tuple(int(v) for v in nvec)
        self.k = k
        if self.nvec is not None:
            K = max(self.nvec)
            valid = torch.arange(K)[None, :] < torch.tensor(self.nvec)[:, None]  # (C, K): no padding
            self.register_buffer("valid", valid, persistent=False)
        self.items = None
        if items is not None:  # an item-structured observation (agents.layout.ItemLayout): equivariant nets
            if head == "autoregressive":
                raise ValueError("the autoregressive head decides items in a fixed order: use torso='mlp' with it")
            # separate actor and critic torsos, two mixing blocks each: what reached 0.94 on Knapsack-v0
            # (n = 50) and 0.63 on Swarm-v0 (8 agents) at 1e5 steps; a shared one-block torso halves the cost
            self.items = ItemPolicy(items.features, items.global_features, self.nvec, hidden=max(hidden))
            return
        if head == "factored":
            out = n_out if self.nvec is None else len(self.nvec) * max(self.nvec)
            self.actor = mlp(obs_dim, hidden, out, out_std=0.01)
        else:
            layers: list[nn.Module] = []
            width = obs_dim
            for w in hidden:
                layers += [layer_init(nn.Linear(width, w)), nn.Tanh()]
                width = w
            self.actor = nn.Sequential(*layers)  # the torso; the head below ends it
            if head == "autoregressive":
                self.sequence = AutoregressiveHead(width, self.nvec, head_hidden)
            else:
                self.sequence = WithoutReplacementHead(width, n_out, k)
        self.critic = mlp(obs_dim, hidden, 1, out_std=1.0)

    def actor_parameters(self) -> list[nn.Parameter]:
        """The policy's parameters (torso and head), without the critic's: what imitation trains."""
        if self.items is not None:
            return [*self.items.actor.parameters(), *self.items.logit.parameters()]
        head = self.sequence.parameters() if hasattr(self, "sequence") else []
        return [*self.actor.parameters(), *head]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V(obs)``, shape ``(batch,)``."""
        if self.items is not None:
            return self.items.value(obs)
        return self.critic(obs).squeeze(-1)

    def policy(self, obs: torch.Tensor, mask: torch.Tensor | None = None):
        """The action distribution at ``obs``. ``mask``: bool, ``(batch, C, K)`` for categorical
        components, ``(batch, n)`` for k-of-N items (True = allowed)."""
        if self.items is not None:  # one logit (or K) per item, from the same network on every item
            logits = self.items.logits(obs)
            if self.head == "without-replacement":
                return WithoutReplacementDistribution(logits, self.k, mask)
            if self.nvec is None:
                return BernoulliHead(logits)
            return CategoricalHead(logits, self.valid if mask is None else self.valid & mask)
        features = self.actor(obs)
        if self.head == "without-replacement":
            return self.sequence(features, mask)
        allowed = None
        if self.nvec is not None:
            allowed = self.valid if mask is None else self.valid & mask
        if self.head == "autoregressive":
            return self.sequence(features, allowed)
        if self.nvec is None:
            return BernoulliHead(features)
        return CategoricalHead(features.reshape(len(obs), len(self.nvec), -1), allowed)


# ----------------------------------------------------------------------------------------- GAE


class RunningScale:
    """Rewards divided by the running standard deviation of each env's discounted return.

    The return ``G ← γ G (1 − done_prev) + r`` is accumulated per env; its mean and variance are
    tracked over every step seen (Chan et al.'s parallel update), and each reward is divided by
    ``sqrt(var + 1e-8)`` (with the variance taken after this step's returns are counted)."""

    def __init__(self, gamma: float, num_envs: int):
        self.gamma = gamma
        self.returns = np.zeros(num_envs)
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + reward
        x = self.returns
        delta, n = x.mean() - self.mean, x.size
        total = self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + x.var() * n + delta**2 * self.count * n / total) / total
        self.count = total
        self.returns = np.where(done, 0.0, self.returns)
        return reward / np.sqrt(self.var + 1e-8)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> torch.Tensor:
    """Generalised advantage estimates (Schulman et al., 2016) of a rollout, shape ``(T, E)``.

    ``rewards``, ``values`` and ``dones`` have shape ``(T, E)``: the reward of step ``t``, ``V`` of
    the observation it was taken in, and 1 where step ``t`` ended its episode (no bootstrap across
    it; a truncated episode's bootstrap ``γ·V(final_obs)`` is already in its reward).
    ``next_value`` (shape ``(E,)``) is ``V`` of the observation after the rollout's last step.

        δ_t = r_t + γ (1 − d_t) V_{t+1} − V_t,    A_t = δ_t + γλ (1 − d_t) A_{t+1}
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        next_values = next_value if t == T - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * nonterminal - values[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        advantages[t] = last
    return advantages


# --------------------------------------------------------------------------------------- agent


def _flat_obs_dim(space) -> int:
    """Length of a flattened observation; a clear error for spaces PPO does not take."""
    if isinstance(space, (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete)):
        return int(spaces.flatdim(space))
    raise ValueError(f"ppo: observation space must be Box, Discrete, MultiBinary or MultiDiscrete, got {space}")


def _takes(factory, name: str) -> bool:
    """Whether ``factory`` (a registry entry point, maybe a lazy string) takes the argument ``name``."""
    if isinstance(factory, str):
        factory = gymnasium.envs.registration.load_env_creator(factory)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def make_vector_env(env, num_envs: int):
    """``num_envs`` copies of ``env`` with same-step autoreset (``info["final_obs"]``).

    The env's own ``vector_entry_point`` is used when it takes an ``autoreset_mode`` (standin's
    numba vector envs); otherwise Gymnasium's ``SyncVectorEnv``. An env that takes a
    ``references`` argument gets ``references=False``: training never reads the reference values,
    and some envs pay for them on every step.
    """
    env_id, kwargs = env_spec(env)
    spec = gymnasium.spec(env_id)
    if spec.entry_point is not None and _takes(spec.entry_point, "references"):
        kwargs["references"] = False
    same_step = gymnasium.vector.AutoresetMode.SAME_STEP
    if spec.vector_entry_point is not None and _takes(spec.vector_entry_point, "autoreset_mode"):
        return gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                                  autoreset_mode=same_step, **kwargs)
    return gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                              vector_kwargs={"autoreset_mode": same_step}, **kwargs)


class PPOAgent:
    """PPO with a factored Bernoulli or categorical head (CleanRL's ``ppo.py``, one file)."""

    Config = PPOConfig
    kind = "policy"

    @staticmethod
    def trains(config: PPOConfig, env=None) -> bool:
        return True

    def __init__(self, config: PPOConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self.last_evaluations = 0
        self.cost = TrainingCost()
        self.net: ActorCritic | None = None

    def _build(self, env) -> None:
        space = env.action_space
        head = self.config.head or default_head(space)
        k = getattr(space, "k", None)
        k_of_n = isinstance(space, spaces.MultiBinary) and isinstance(k, (int, np.integer))
        if k_of_n != (head == "without-replacement"):
            if k_of_n:
                raise ValueError(f"ppo: {space} is a k-of-N space: use head='without-replacement' (the {head} "
                                 "head cannot keep exactly k ones)")
            raise ValueError(f"ppo: head='without-replacement' is for k-of-N spaces, not {space}; use 'factored' "
                             "or 'autoregressive'")
        head_nvec = None  # the components the autoregressive head decides
        if isinstance(space, spaces.MultiBinary):
            self.nvec, self.start = None, None
            n_out = int(np.prod(space.shape))
            head_nvec = [2] * n_out
        elif isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
            self.nvec, self.start = space.nvec.tolist(), np.asarray(space.start, dtype=np.int64)
            n_out, head_nvec = len(self.nvec), self.nvec
        elif isinstance(space, spaces.Discrete):
            self.nvec, self.start = [int(space.n)], np.asarray([space.start], dtype=np.int64)
            n_out, head_nvec = 1, self.nvec
        else:
            raise ValueError(
                f"ppo: action space must be MultiBinary, MultiDiscrete (rank 1) or Discrete, got {space}"
            )
        self.env = env
        self.space = space
        self.obs_space = env.observation_space
        self.obs_dim = _flat_obs_dim(self.obs_space)
        self.action_shape = tuple(space.shape)
        self.n_out = n_out
        self.rng = seed_everything(self.seed)  # seeds torch: the network init below
        self.generator = torch.Generator().manual_seed(self.seed)  # action sampling
        nvec = head_nvec if head == "autoregressive" else self.nvec
        items = choose_torso(self.config.torso, env, head, "ppo")
        self.net = ActorCritic(self.obs_dim, n_out, self.config.hidden_sizes, nvec, head, k, self.config.head_hidden,
                               items)
        self.item_mask = head == "without-replacement"  # masks are per item, not per component

    def _obs(self, obs) -> torch.Tensor:
        """A batch of observations as a float32 tensor of shape ``(batch, obs_dim)``."""
        if isinstance(self.obs_space, spaces.Box):
            flat = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        else:  # one-hot encodings of discrete observations
            batch = np.asarray(obs).reshape(-1, *self.obs_space.shape)
            flat = np.stack([spaces.flatten(self.obs_space, o) for o in batch]).astype(np.float32)
        return torch.as_tensor(flat)

    def _mask(self, info, batched: bool) -> torch.Tensor | None:
        """``info["action_mask"]`` in the head's layout (``agents.heads.head_mask``), or None."""
        mask = head_mask(info, batched, self.nvec, self.item_mask, self.n_out)
        return None if mask is None else torch.as_tensor(mask)

    def _to_env(self, action: torch.Tensor, batch: int) -> np.ndarray:
        """Head samples ``(batch, ·)`` as env actions of the space's dtype and shape."""
        a = action.numpy()
        if self.nvec is None:
            return a.astype(np.int8).reshape((batch, *self.action_shape))
        a = a.astype(np.int64) + self.start
        return a.reshape((batch, *self.action_shape)).astype(self.space.dtype)

    def fit(self, env, steps: int, log: Logger | None = None) -> None:
        """Train for ``steps`` env steps on vector copies of ``env`` (0: only build the network)."""
        log = NullLogger() if log is None else log
        cfg = self.config
        self._build(env)
        if steps == 0:
            return
        net = self.net
        vec = make_vector_env(env, cfg.num_envs)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, eps=1e-5)

        E, T, n = cfg.num_envs, cfg.num_steps, self.n_out
        batch_size = E * T
        minibatch_size = batch_size // cfg.num_minibatches
        num_iterations = max(1, steps // batch_size)

        # rollout storage
        obs_buf = torch.zeros((T, E, self.obs_dim))
        actions_buf = torch.zeros((T, E, n))
        logprobs_buf = torch.zeros((T, E))
        rewards_buf = torch.zeros((T, E))
        dones_buf = torch.zeros((T, E))  # 1 where the step at t ended its episode
        values_buf = torch.zeros((T, E))
        masks_buf = None  # (T, E, C, K) bool, once the env shows an action mask

        # episode bookkeeping for train/episodic_return
        ep_return = np.zeros(E)
        reward_scale = RunningScale(cfg.gamma, E) if cfg.norm_reward else None

        global_step = 0
        start = time.perf_counter()
        next_obs_np, next_info = vec.reset(seed=self.seed)
        next_obs = self._obs(next_obs_np)
        next_mask = self._mask(next_info, batched=True)

        try:
            for iteration in range(1, num_iterations + 1):
                if cfg.anneal_lr:
                    frac = 1.0 - (iteration - 1.0) / num_iterations
                    optimizer.param_groups[0]["lr"] = frac * cfg.learning_rate

                # ---- rollout
                finished: list[float] = []
                for t in range(T):
                    global_step += E
                    self.cost.env_steps += E
                    obs_buf[t] = next_obs
                    if next_mask is not None:
                        if masks_buf is None:
                            masks_buf = torch.ones((T, E, *next_mask.shape[1:]), dtype=torch.bool)
                        masks_buf[t] = next_mask
                    with torch.no_grad():
                        dist = net.policy(next_obs, next_mask)
                        action = dist.sample(self.generator)
                        logprobs_buf[t] = dist.log_prob(action)
                        values_buf[t] = net.value(next_obs)
                    actions_buf[t] = action

                    next_obs_np, reward, terminated, truncated, info = vec.step(self._to_env(action, E))
                    reward = np.asarray(reward, dtype=np.float64)
                    done = np.logical_or(terminated, truncated)

                    ep_return += reward
                    for i in np.flatnonzero(done):
                        finished.append(float(ep_return[i]))
                        ep_return[i] = 0.0
                    if reward_scale is not None:
                        reward = reward_scale(reward, done)

                    # Same-step autoreset: next_obs is already the reset obs on done steps, so a
                    # truncated (not terminated) episode is bootstrapped from its final obs.
                    boot = np.flatnonzero(np.logical_and(truncated, np.logical_not(terminated)))
                    if boot.size:
                        final = self._obs(np.stack([info["final_obs"][i] for i in boot]))
                        with torch.no_grad():
                            reward[boot] += cfg.gamma * net.value(final).numpy().astype(np.float64)

                    rewards_buf[t] = torch.as_tensor(reward, dtype=torch.float32)
                    dones_buf[t] = torch.as_tensor(done, dtype=torch.float32)
                    next_obs = self._obs(next_obs_np)
                    next_mask = self._mask(info, batched=True)
                    tick(log, global_step)

                if finished:
                    log.scalar("train/episodic_return", float(np.mean(finished)), global_step)

                # ---- generalised advantage estimation
                with torch.no_grad():
                    next_value = net.value(next_obs)
                advantages = gae(rewards_buf, values_buf, dones_buf, next_value, cfg.gamma, cfg.gae_lambda)
                returns = advantages + values_buf

                # ---- flatten the rollout
                b_obs = obs_buf.reshape(-1, self.obs_dim)
                b_actions = actions_buf.reshape(-1, n)
                b_logprobs = logprobs_buf.reshape(-1)
                b_advantages = advantages.reshape(-1)
                b_returns = returns.reshape(-1)
                b_values = values_buf.reshape(-1)
                b_masks = None if masks_buf is None else masks_buf.reshape(-1, *masks_buf.shape[2:])

                # ---- optimise the policy and value networks
                clipfracs: list[float] = []
                for _epoch in range(cfg.update_epochs):
                    order = self.rng.permutation(batch_size)
                    for start_i in range(0, batch_size - minibatch_size + 1, minibatch_size):
                        mb = torch.as_tensor(order[start_i : start_i + minibatch_size])

                        dist = net.policy(b_obs[mb], None if b_masks is None else b_masks[mb])
                        new_logprob = dist.log_prob(b_actions[mb])
                        entropy = dist.entropy()
                        new_value = net.value(b_obs[mb])
                        logratio = new_logprob - b_logprobs[mb]
                        ratio = logratio.exp()

                        with torch.no_grad():
                            # http://joschu.net/blog/kl-approx.html
                            old_approx_kl = (-logratio).mean()
                            approx_kl = ((ratio - 1) - logratio).mean()
                            clipfracs.append(((ratio - 1.0).abs() > cfg.clip_coef).float().mean().item())

                        mb_adv = b_advantages[mb]
                        if cfg.norm_adv and mb_adv.numel() > 1:
                            mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)

                        # clipped surrogate
                        pg_loss1 = -mb_adv * ratio
                        pg_loss2 = -mb_adv * torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)
                        pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                        # value loss
                        if cfg.clip_vloss:
                            v_loss_unclipped = (new_value - b_returns[mb]) ** 2
                            v_clipped = b_values[mb] + torch.clamp(
                                new_value - b_values[mb], -cfg.clip_coef, cfg.clip_coef
                            )
                            v_loss_clipped = (v_clipped - b_returns[mb]) ** 2
                            v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                        else:
                            v_loss = 0.5 * ((new_value - b_returns[mb]) ** 2).mean()

                        entropy_loss = entropy.mean()
                        loss = pg_loss - cfg.ent_coef * entropy_loss + cfg.vf_coef * v_loss

                        optimizer.zero_grad()
                        loss.backward()
                        nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        self.cost.gradient_steps += 1

                    if cfg.target_kl is not None and approx_kl.item() > cfg.target_kl:
                        break

                log.scalar("train/loss/policy", pg_loss.item(), global_step)
                log.scalar("train/loss/value", v_loss.item(), global_step)
                log.scalar("train/loss/entropy", entropy_loss.item(), global_step)
                log.scalar("train/old_approx_kl", old_approx_kl.item(), global_step)
                log.scalar("train/approx_kl", approx_kl.item(), global_step)
                log.scalar("train/clipfrac", float(np.mean(clipfracs)), global_step)
                log.scalar("perf/env_steps_per_s", global_step / (time.perf_counter() - start), global_step)
        finally:
            vec.close()

    def chosen(self) -> dict:
        """The config fields that ``fit`` chose from the env (see ``agents.Agent``)."""
        return {"head": self.net.head, "torso": "mlp" if self.net.items is None else "items"}

    def state_dict(self) -> dict:
        """The trained weights (``agents.checkpoint`` saves them)."""
        return {"net": self.net.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])

    def act(self, obs, info) -> np.ndarray:
        """The policy's decision for one observation: its mode, or a sample (``deterministic_eval``)."""
        if self.net is None:
            raise RuntimeError("ppo: call fit(env, steps) before act()")
        self.last_evaluations = 0
        with torch.no_grad():
            dist = self.net.policy(self._obs(obs), self._mask(info, batched=False))
            action = dist.mode() if self.config.deterministic_eval else dist.sample(self.generator)
        out = self._to_env(action, 1)[0]
        if isinstance(dist, BernoulliHead):  # an env's hard constraint (feasible()): drop the least likely bits
            out = repair(out, dist.logits[0].numpy(), self.env)
        return out.item() if isinstance(self.space, spaces.Discrete) else out
