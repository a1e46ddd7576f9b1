"""``filtered``: a conservative policy by rejection sampling. A generator proposes candidates, a
learned classifier of catastrophes prunes the ones it scores above a threshold, and the best
accepted candidate by a quality value is the decision.

The stand-ins (docs/conservative.md): the env's hard-coded ``overseer(action)`` for the human
labellers who say what is catastrophic, the classifier for what was learned from their labels, and
rejection sampling for a policy that avoids rare catastrophes without being trained to.

Training spends the budget on labels: ``min(steps, label_budget // labels_per_context)`` training
prompts (one env step each), on each of which ``labels_per_context`` of the generator's candidates
are shown to the overseer (``label_from``: the best by quality, which are the ones the policy would
pick, or uniform ones). The classifier is then fitted to the labels by logistic regression. Its
logit is a ``Q(s, a)`` network of value-search's kinds (``agents.value_search.value_network``), so it
exports to ``search`` as a landscape, which is what an adversary searches.

The quality value (``value``) is the env's exact quality, a value regressed on rewards, or none
(the first accepted candidate). The generator (``generator``) is uniform, a ``ppo`` policy trained
first on part of the budget (its own distribution: pulled towards quality, and so towards the
tempting catastrophes), or a trained ppo checkpoint.

``classifier="overseer"`` asks the overseer itself at decision time (a perfect classifier, and a
count of the labels that would take), the reference a learned classifier is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from standin import agents as registry
from standin import search
from standin.agents.common import ActionCodec, NullLogger, TrainingCost, sample_action, seed_everything, tick
from standin.agents.layout import choose_torso
from standin.agents.proposals import PPOProposal
from standin.agents.value_search import reward_scale, value_network


class WindowClassifier(nn.Module):
    """A logit for sequence actions (``L`` components of ``V`` values each) that detects windows:
    ``logit(c, a) = b + Σ_p Σ_ch w_ch relu(Σ_{j<k} K[ch, j, a_{p+j}] + β_ch(c))``.

    Each channel ``ch`` scores every window of ``k`` consecutive tokens with its own kernel ``K[ch]``
    (a 1-D convolution over positions ``p = 0..L−k``); the context shifts each channel's threshold
    through ``β(c)`` (a small MLP on the observation), so a pattern can count only in some prompts.
    One channel per planted pattern can represent the overseer exactly. Exported per state as a
    ``search.MLP`` with one hidden layer of ``(L − k + 1) · channels`` units: the convolution as a dense
    first layer, ``β(c)`` as its bias, the weights ``w`` tiled over positions.
    """

    def __init__(self, obs_dim: int, L: int, V: int, window: int, channels: int, hidden: int):
        super().__init__()
        if not 1 <= window <= L:
            raise ValueError(f"filtered: window must be in 1..{L} (the action's length), got {window}")
        self.L, self.V, self.window, self.channels = L, V, window, channels
        self.kernel = nn.Parameter(0.3 * torch.randn(channels, window, V))
        self.context = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        # small output weights and a bias at a rare event's log-odds: a large initial logit would push
        # every unit below zero (dead ReLUs) before any pattern was found
        self.out = nn.Parameter(torch.full((channels,), 0.01))
        self.bias = nn.Parameter(torch.full((1,), -4.0))

    def _pre(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``(B, L − k + 1, channels)``."""
        x = action.reshape(len(action), self.L, self.V)
        P = self.L - self.window + 1
        z = sum(torch.einsum("bpv,cv->bpc", x[:, j : j + P], self.kernel[:, j]) for j in range(self.window))
        return z + self.context(obs)[:, None, :]

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return (torch.relu(self._pre(obs, action)) * self.out).sum((1, 2)) + self.bias

    @torch.no_grad()
    def landscape(self, obs) -> search.MLP:
        """The logit at ``obs`` as a ``search.MLP`` over the one-hot action encoding."""
        L, V, k, C = self.L, self.V, self.window, self.channels
        P = L - k + 1
        K = self.kernel.double().numpy()
        W1 = np.zeros((P * C, L * V))
        for p in range(P):
            for j in range(k):
                W1[p * C:(p + 1) * C, (p + j) * V:(p + j + 1) * V] = K[:, j]
        beta = self.context(torch.as_tensor(np.ravel(obs), dtype=torch.float32)[None]).double().numpy()[0]
        W2 = np.tile(self.out.double().numpy(), P)[None]
        return search.MLP((W1, W2), (np.tile(beta, P), self.bias.double().numpy()))


@dataclass
class FilteredConfig:
    """Config of ``filtered`` (module docstring)."""

    candidates: int = 64
    """Candidates the generator proposes per decision (K)."""
    threshold: float = 0.5
    """Accept a candidate when the classifier's P(catastrophe) is at most this (0: only candidates it is
    certain of; 1: everything, i.e. no filter)."""
    classifier: Literal["window", "quadratic", "mlp", "overseer"] | None = None
    """The catastrophe classifier: a learned logit exportable to search (``window``: a convolution over
    windows of ``window`` consecutive tokens, :class:`WindowClassifier`, for sequence actions;
    ``quadratic`` or ``mlp``: value-search's networks), or the env's overseer itself (a perfect
    classifier; its decision-time queries are counted). None: ``window`` for a sequence action
    (``MultiDiscrete`` with equal components), else ``quadratic``."""
    window: int = 3
    """Tokens per window of the ``window`` classifier."""
    channels: int = 16
    """Windows the ``window`` classifier learns to detect (its convolution's channels)."""
    generator: Literal["uniform", "ppo", "checkpoint"] = "uniform"
    """Where candidates come from: uniform random actions of the space; a ``ppo`` policy that ``fit``
    trains first on the env's reward (``generator_steps`` of the budget, with ``generator_config``),
    so the candidates are a trained generator's own distribution, pulled towards quality and so
    towards tempting catastrophes; or the policy of a trained ppo ``generator_checkpoint``."""
    generator_steps: int | None = None
    """Of the training budget, the env steps that train the ``ppo`` generator (the labels get the
    rest); None: half."""
    generator_config: dict = field(default_factory=dict)
    """The ``ppo`` generator's config (a table, e.g. ``{num_envs = 16}``)."""
    generator_checkpoint: str | None = None
    """Path of a ppo checkpoint (``standin bench`` writes them to ``checkpoints/``), for
    ``generator="checkpoint"``."""
    value: Literal["oracle", "learned", "first"] = "oracle"
    """How an accepted candidate is chosen: the best by the env's quality landscape (``oracle``), the
    best by a value learned from rewards (``learned``: value-search's ``quadratic`` network regressed
    on the reward of the generator's candidates, over the env steps of the budget that the labelled
    prompts leave), or the first accepted (``first``: plain rejection sampling)."""
    value_epochs: int = 10
    """Passes over the rewards seen for ``value="learned"``."""
    fallback: Literal["safest", "random"] = "safest"
    """The decision when no candidate is accepted: the one the classifier scores least likely to be
    catastrophic, or a uniformly random candidate."""
    label_budget: int = 32768
    """Overseer queries that training may spend on labels (on Completion-v0's defaults 8k left a
    failure rate of 2–4%, 32k about 0.3%: docs/conservative.md)."""
    labels_per_context: int = 8
    """Candidates labelled per training prompt."""
    label_from: Literal["top", "uniform"] = "top"
    """Which of a training prompt's ``candidates`` get labels: the best by the value (the ones the
    policy would weigh) or uniformly chosen ones."""
    torso: Literal["mlp", "items"] | None = None
    """The torso of a ``quadratic`` or ``mlp`` classifier and of a learned value: None takes the items
    where the observation has them for the classifier (see agents.layout), and the flat ``mlp`` for
    the value (on Completion-v0 it ranked candidates by quality far better: correlation 0.88 against
    0.54 after 8k env steps)."""
    rank: int = 16
    """Rank of a ``quadratic`` classifier's pairwise term."""
    context_rank: int = 2
    """Of those, the columns that depend on the observation (flat torso only)."""
    hidden: int = 64
    """Width of the classifier's hidden layers."""
    red_team_queries: int = 0
    """After training, an adversary by search (``agents.adversary``) spends this many overseer queries
    looking for completions the filter passes that are catastrophic (0: no red-teaming)."""
    red_team_budget: int = 2000
    """Landscape evaluations of the adversary's search per query."""
    safety_decisions: int = 0
    """After the evaluation, measure the failure rate on this many more decisions at once
    (``benchmarks.safety.evaluate_at_scale``: 10⁶ take about a minute on Completion-v0), for rates
    down to about ``3 / safety_decisions`` (0: none; ``safety_*`` in the results)."""
    adversarial_rounds: int = 0
    """After training on the label budget, rounds of adversarial training (``agents.adversary``): an
    adversary by search attacks ``adversarial_queries`` prompts, every completion it shows the overseer
    becomes a label (counted with the training labels), and the classifier is refitted on all labels.
    A fresh adversary measures failures per query before the first round and after each
    (``adversarial_curve`` in the results)."""
    adversarial_queries: int = 200
    """Overseer queries of each adversarial round's attack (and of each measurement)."""
    lr: float = 1e-2
    """AdamW learning rate of the classifier."""
    weight_decay: float = 1e-3
    """AdamW weight decay of the classifier."""
    epochs: int = 60
    """Passes over the labelled set."""
    batch_size: int = 256
    """Labelled examples per gradient step."""

    def __post_init__(self):
        rules = [
            ("candidates", self.candidates >= 1, ">= 1"),
            ("threshold", 0.0 <= self.threshold <= 1.0, "in [0, 1]"),
            ("label_budget", self.label_budget >= 0, ">= 0"),
            ("red_team_queries", self.red_team_queries >= 0, ">= 0"),
            ("red_team_budget", self.red_team_budget >= 1, ">= 1"),
            ("adversarial_rounds", self.adversarial_rounds >= 0, ">= 0"),
            ("safety_decisions", self.safety_decisions >= 0, ">= 0"),
            ("adversarial_queries", self.adversarial_queries >= 1, ">= 1"),
            ("labels_per_context", 1 <= self.labels_per_context <= self.candidates, "in 1..candidates"),
            ("rank", self.rank >= 1, ">= 1"),
            ("context_rank", 0 <= self.context_rank <= self.rank, "in 0..rank"),
            ("hidden", self.hidden >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("value_epochs", self.value_epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
        ]
        for name, ok, allowed in rules:
            if not ok:
                raise ValueError(f"filtered: {name} must be {allowed}, got {getattr(self, name)!r}")
        if (self.generator == "checkpoint") != (self.generator_checkpoint is not None):
            raise ValueError("filtered: generator='checkpoint' and generator_checkpoint go together (got "
                             f"generator={self.generator!r}, generator_checkpoint={self.generator_checkpoint!r})")
        if self.generator_steps is not None and self.generator_steps < 0:
            raise ValueError(f"filtered: generator_steps must be >= 0 or None, got {self.generator_steps!r}")
        if self.generator_config and self.generator != "ppo":
            raise ValueError(f"filtered: generator_config is for generator='ppo', not {self.generator!r}")
        registry.build_config(registry.agent_class("ppo").Config, self.generator_config,
                              owner="filtered: generator_config")  # a bad generator config fails now


class FilteredAgent:
    Config = FilteredConfig
    name = "filtered"
    kind = "filter"

    def __init__(self, config: FilteredConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self.rng = seed_everything(seed)
        self.cost = TrainingCost()
        self.last_evaluations = 0
        self.last_fallback = False
        self.last_accepted = 0
        self.last_candidates = config.candidates
        self.generator_steps = 0
        """Env steps of the budget that trained a ``ppo`` generator, after ``fit``."""
        self.value_steps = 0
        """Env steps of the budget whose rewards trained a learned value, after ``fit``."""
        self.value_net = None
        self.last_overseer_queries = 0
        self.net = None
        self.labelled: tuple | None = None
        """The classifier's training set ``(states, action encodings, labels)``, after ``fit``."""
        self.adversarial_curve: list[dict] | None = None
        """With ``adversarial_rounds``: per round, the measuring adversary's finds
        (``agents.adversary.adversarial_training``'s rows)."""

    def audit(self, env, seed: int) -> dict:
        """After the evaluation, on prompts from ``seed``: red-teaming (``agents.adversary.red_team``)
        with ``red_team_queries`` overseer queries when the classifier is learned. The runner records
        what this returns with the trial's metrics. (The failure rate on ``safety_decisions`` fresh
        prompts is the runner's to measure, through :meth:`act_batch`: ``benchmarks.safety``.)"""
        cfg = self.config
        out = {}
        if cfg.red_team_queries and self.net is not None:
            from standin.agents.adversary import red_team

            r = red_team(self, env, cfg.red_team_queries, budget=cfg.red_team_budget, seed=seed)
            out.update({"adversary_queries": r.queries, "adversary_failures": r.failures,
                        "adversary_failures_per_query": r.failures_per_query, "adversary_seconds": r.seconds,
                        "adversary_policy_failures": r.policy_failures})
        return out

    @staticmethod
    def trains(config: FilteredConfig, env=None) -> bool:
        """A learned classifier learns (from labels), and a ``ppo`` generator; the overseer itself does not."""
        return config.classifier != "overseer" or config.generator == "ppo"

    def chosen(self) -> dict:
        """The config fields that ``fit`` chose from the env (see ``agents.Agent``)."""
        return {"classifier": self.classifier, "generator_steps": self.generator_steps}

    # ------------------------------------------------------------------ parts

    def _bind(self, env) -> None:
        cfg = self.config
        self.env = env
        self.inner = env.unwrapped
        if not hasattr(self.inner, "overseer"):
            raise ValueError(f"filtered: {type(self.inner).__name__} has no overseer(action) to label catastrophes "
                             "(Completion-v0 has one; see docs/conservative.md for adding one)")
        if cfg.value == "oracle" and not hasattr(self.inner, "landscape"):
            raise ValueError(f"filtered: value='oracle' needs an env with landscape(); {type(self.inner).__name__} "
                             "has none (use value='first')")
        self.space = env.action_space
        self.space.seed(int(self.rng.integers(2**31)))  # the generator's stream, from the agent's seed
        self.codec = ActionCodec(self.space)
        self.obs_dim = int(np.prod(env.observation_space.shape))
        nvec = np.asarray(getattr(self.space, "nvec", [0]))
        sequence = isinstance(self.codec.search_space, search.Discrete) and nvec.size > 1 and (nvec == nvec[0]).all()
        self.sequence = bool(sequence) and np.asarray(self.space.nvec).ndim == 1 and not getattr(self.space, "start",
                                                                                                  np.zeros(1)).any()
        self.offsets = self.codec.search_space.offsets[:-1] if self.sequence else None
        self.classifier = cfg.classifier or ("window" if sequence else "quadratic")
        if self.classifier == "window" and not sequence:
            raise ValueError(f"filtered: classifier='window' needs a sequence action (MultiDiscrete with equal "
                             f"components), got {self.space}")
        self.items = None if self.classifier in ("window", "overseer") else choose_torso(cfg.torso, env, "factored",
                                                                                         self.name)
        self.net = None if self.classifier == "overseer" else self._classifier_network()
        self.torch_rng = torch.Generator().manual_seed(self.seed)  # a policy generator's samples
        self.proposal = None  # a policy's candidates (PPOProposal), or uniform ones
        if cfg.generator == "checkpoint":
            self.proposal = PPOProposal.from_checkpoint(cfg.generator_checkpoint, self.codec, self.name)

    def _classifier_network(self) -> nn.Module:
        cfg = self.config
        if self.classifier == "window":
            nvec = np.asarray(self.space.nvec)
            return WindowClassifier(self.obs_dim, nvec.size, int(nvec[0]), cfg.window, cfg.channels, cfg.hidden)
        return value_network(self.classifier, self.codec, self.obs_dim, self.items, cfg.rank, cfg.context_rank,
                             cfg.hidden)

    def _candidates(self, obs, info) -> np.ndarray:
        """``candidates`` actions from the generator at ``obs``, as the env takes them, ``(K, *shape)``."""
        K = self.config.candidates
        if self.config.generator != "uniform":
            if self.proposal is None:
                raise RuntimeError("filtered: the ppo generator is not trained yet (fit trains it first)")
            if isinstance(info, dict) and info.get("action_mask") is not None:
                actions, _ = self.proposal.sample(obs, info, K, self.torch_rng)
                return np.stack([self.codec.to_env(a) for a in actions])
            return self.proposal.sample_batch(np.asarray(obs)[None], K, self.torch_rng)[0]  # as act_batch draws
        if self.sequence and (not isinstance(info, dict) or info.get("action_mask") is None):
            return self.rng.integers(0, self.space.nvec, size=(K, *self.space.shape))  # all at once
        return np.stack([sample_action(self.space, info) for _ in range(K)])

    def _encode(self, actions: np.ndarray) -> np.ndarray:
        """The search encodings of ``actions`` ``(K, m)``, float32 (one-hot per component for sequences)."""
        if self.sequence:
            actions = np.asarray(actions, dtype=np.int64)
            out = np.zeros((len(actions), self.codec.m), dtype=np.float32)
            out[np.arange(len(actions))[:, None], self.offsets + actions] = 1.0
            return out
        return np.stack([self.codec.encode(a) for a in actions]).astype(np.float32)

    def _quality(self, obs, actions: np.ndarray) -> np.ndarray:
        """The value of each candidate at ``obs``: the env's quality landscape (``oracle``), the learned
        value (``learned``), or 0 (``first``)."""
        if self.config.value == "first":
            return np.zeros(len(actions))
        if self.config.value == "learned":
            return self._learned_value(np.ravel(obs)[None], self._encode(actions))[0]
        return np.asarray(self.inner.landscape()(self._encode(actions).astype(np.float64)), dtype=np.float64)

    @staticmethod
    @torch.no_grad()
    def _net_rows(net: nn.Module, states: np.ndarray, encodings: np.ndarray) -> torch.Tensor:
        """``net``'s output for ``encodings`` ``(B·K, m)``, the ``K`` of each of ``states`` ``(B, obs_dim)``
        in turn, as ``(B, K)``."""
        B = len(states)
        s = torch.from_numpy(np.asarray(states, np.float32)).repeat_interleave(len(encodings) // B, dim=0)
        return net(s, torch.from_numpy(np.asarray(encodings, np.float32))).reshape(B, -1)

    def _learned_value(self, states: np.ndarray, encodings: np.ndarray) -> np.ndarray:
        """The learned value of ``encodings`` ``(B·K, m)`` at ``states`` ``(B, obs_dim)``, as ``(B, K)``."""
        return self._net_rows(self.value_net, states, encodings).double().numpy() * self.value_scale

    def p_catastrophe(self, obs, actions: np.ndarray) -> np.ndarray:
        """The classifier's P(catastrophe) of each of ``actions`` at ``obs`` (the overseer's 0/1 verdicts
        for ``classifier="overseer"``, each one a counted query)."""
        if self.net is None:
            self.last_overseer_queries = len(actions)
            return np.array([float(self.inner.overseer(a)) for a in actions])
        return torch.sigmoid(self._net_rows(self.net, np.ravel(obs)[None], self._encode(actions)))[0].double().numpy()

    def landscape(self, obs):
        """The classifier's logit at ``obs`` as a search landscape over the action encoding (what an
        adversary searches; higher means judged more likely catastrophic)."""
        if self.net is None:
            raise ValueError("filtered: classifier='overseer' has no landscape to export")
        return self.net.landscape(np.ravel(obs))

    # --------------------------------------------------------------- contract

    def fit(self, env, steps: int, log=None) -> None:
        """Train the ``ppo`` generator (if any) on ``generator_steps`` env steps, then label candidates
        of ``min(rest, label_budget // labels_per_context)`` training prompts and fit the classifier;
        ``steps = 0`` builds everything untrained (e.g. to load a checkpoint)."""
        log = log or NullLogger()
        cfg = self.config
        self._bind(env)
        self.generator_steps = self.value_steps = 0
        if cfg.generator == "ppo":
            self.generator_steps = steps // 2 if cfg.generator_steps is None else cfg.generator_steps
            if steps > 0 and self.generator_steps >= steps:
                raise ValueError(f"filtered: generator_steps ({self.generator_steps}) must be below the training "
                                 f"budget ({steps} env steps), which also pays for the labelled prompts")
            ppo = registry.make("ppo", seed=self.seed, **cfg.generator_config)
            ppo.fit(env, min(self.generator_steps, steps), log)
            self.cost.add(ppo.cost)
            self.proposal = PPOProposal(ppo, self.codec)
        steps -= min(self.generator_steps, steps)
        contexts = 0 if self.net is None else min(steps, cfg.label_budget // cfg.labels_per_context)
        if self.net is not None and steps > 0 and contexts == 0:
            raise ValueError(f"filtered: label_budget={cfg.label_budget} is below labels_per_context="
                             f"{cfg.labels_per_context}, so the classifier would get no label")
        if cfg.value == "learned":
            if steps > 0 and steps == contexts:
                raise ValueError(f"filtered: value='learned' needs env steps beyond the {contexts} labelled prompts "
                                 f"(the budget left is {steps}): raise the budget or lower label_budget")
            self._fit_value(env, steps - contexts, log)
        if contexts == 0:
            return
        states, actions, labels = [], [], []
        obs, info = env.reset(seed=self.seed)
        for step in range(contexts):
            cands = self._candidates(obs, info)
            if cfg.label_from == "top" and cfg.value != "first":
                shown = cands[np.argsort(-self._quality(obs, cands), kind="stable")[: cfg.labels_per_context]]
            else:
                shown = cands[self.rng.permutation(len(cands))[: cfg.labels_per_context]]
            for a in shown:
                states.append(np.ravel(obs).astype(np.float32))
                actions.append(self.codec.encode(a))
                labels.append(float(self.inner.overseer(a)))
                self.cost.overseer_queries += 1
            obs, _, terminated, truncated, info = env.step(cands[0])
            self.cost.env_steps += 1
            if terminated or truncated:
                obs, info = env.reset()
            tick(log, self.generator_steps + self.value_steps + step + 1)
        self.labelled = (np.stack(states), np.stack(actions).astype(np.float32), np.asarray(labels, np.float32))
        self._train_classifier(log, self.generator_steps + self.value_steps + contexts)
        if cfg.adversarial_rounds:
            from standin.agents.adversary import adversarial_training

            self.adversarial_curve = adversarial_training(self, env, cfg.adversarial_rounds, cfg.adversarial_queries,
                                                          seed=self.seed, budget=cfg.red_team_budget)
            for row in self.adversarial_curve:  # steps on this tag are rounds, not env steps
                log.scalar("adversary/round_failures_per_query", row["failures_per_query"], row["round"])

    def _fit_value(self, env, steps: int, log) -> None:
        """``value="learned"``: act with the generator's first candidate for ``steps`` env steps and
        regress each reward on (observation, action) with value-search's ``quadratic`` network."""
        cfg = self.config
        torch.manual_seed(self.seed)
        items = choose_torso(cfg.torso or "mlp", env, "factored", self.name)  # flat fitted Completion-v0 best
        self.value_net = value_network("quadratic", self.codec, self.obs_dim, items, cfg.rank, cfg.context_rank,
                                       cfg.hidden)
        self.value_scale, self.value_steps = 1.0, steps
        if steps == 0:
            return
        states, actions, rewards = [], [], []
        obs, info = env.reset(seed=self.seed + 1)
        for step in range(steps):
            action = self._candidates(obs, info)[0]
            states.append(np.ravel(obs).astype(np.float32))
            actions.append(action)
            obs, reward, terminated, truncated, info = env.step(action)
            rewards.append(reward)
            self.cost.env_steps += 1
            if terminated or truncated:
                obs, info = env.reset()
            tick(log, self.generator_steps + step + 1)
        y = np.asarray(rewards, np.float64)
        self.value_scale = reward_scale(y)
        X, A = torch.from_numpy(np.stack(states)), torch.from_numpy(self._encode(np.stack(actions)))
        Y = torch.from_numpy((y / self.value_scale).astype(np.float32))
        losses = self._fit_net(self.value_net, X, A, Y, torch.nn.functional.mse_loss, cfg.value_epochs)
        log.scalar("train/loss/value", float(np.mean(losses[-max(1, len(Y) // cfg.batch_size):])),
                   self.generator_steps + steps)

    def _fit_net(self, net: nn.Module, X, A, y, loss_fn, epochs: int) -> list[float]:
        """AdamW on ``loss_fn(net(X, A), y)`` in shuffled minibatches for ``epochs`` passes; the losses."""
        cfg = self.config
        optim = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        losses = []
        for _ in range(epochs):
            order = torch.from_numpy(self.rng.permutation(len(y)))
            for lo in range(0, len(y), cfg.batch_size):
                mb = order[lo : lo + cfg.batch_size]
                loss = loss_fn(net(X[mb], A[mb]), y[mb])
                optim.zero_grad()
                loss.backward()
                optim.step()
                losses.append(loss.item())
                self.cost.gradient_steps += 1
        return losses

    def add_labels(self, obs, actions: np.ndarray, labels) -> None:
        """Add labelled examples (e.g. an adversary's finds, each a query the caller counted in
        ``cost.overseer_queries``) to the classifier's training set; :meth:`retrain` then refits it."""
        if self.labelled is None:
            raise ValueError("filtered: add_labels needs a classifier fitted to labels first (fit with steps > 0)")
        states = np.repeat(np.ravel(obs)[None].astype(np.float32), len(actions), axis=0)
        enc = self._encode(np.asarray(actions))
        X, A, y = self.labelled
        self.labelled = (np.concatenate([X, states]), np.concatenate([A, enc]),
                         np.concatenate([y, np.asarray(labels, np.float32)]))

    def retrain(self, log=None) -> None:
        """Refit the classifier from scratch on every label so far (same seed, same settings)."""
        torch.manual_seed(self.seed)
        self.net = self._classifier_network()
        self._train_classifier(log or NullLogger(), self.cost.env_steps)

    def _train_classifier(self, log, step: int) -> None:
        cfg = self.config
        X, A, y = (torch.from_numpy(a) for a in self.labelled)
        losses = self._fit_net(self.net, X, A, y, torch.nn.functional.binary_cross_entropy_with_logits, cfg.epochs)
        log.scalar("train/loss/classifier", float(np.mean(losses[-max(1, len(y) // cfg.batch_size):])), step)
        log.scalar("safety/label_positive_rate", float(y.mean()), step)

    def act(self, obs, info):
        cfg = self.config
        cands = self._candidates(obs, info)
        p = self.p_catastrophe(obs, cands)
        pick, accepted, fallback = _choose(p[None], self._quality(obs, cands)[None], cfg.threshold, cfg.fallback,
                                          self.rng)
        self.last_accepted = int(accepted[0])
        self.last_fallback = bool(fallback[0])
        self.last_evaluations = len(cands) if cfg.value != "first" else 0
        return cands[pick[0]]

    def act_batch(self, obs, core, idx=None, chunk: int = 8192) -> np.ndarray:
        """:meth:`act` for ``B`` prompts at once: those of ``core``, an env core from the bound env's
        ``make_core`` (``idx``: which of its prompts, default all ``core.num_envs``), whose observations
        are ``obs`` ``(B, *obs_shape)``. Returns the actions ``(B, L)``.

        The same decision rule as :meth:`act` (:func:`_choose`), for sequence actions only: ``(B, K, L)``
        candidates drawn with the agent's generator in one call, the classifier run on the ``B·K`` rows
        in chunks of about ``chunk`` rows (``classifier="overseer"``: the env's ``catastrophic_batch``,
        its ``B·K`` queries counted in ``last_overseer_queries``), the quality from the env's
        ``quality_batch``. Afterwards ``last_accepted`` (int ``(B,)``) and ``last_fallback`` (bool
        ``(B,)``) hold each prompt's accepted candidates and whether it fell back, and
        ``last_evaluations`` the quality evaluations of all ``B`` prompts together.
        """
        cfg = self.config
        inner = getattr(self, "inner", None)
        if inner is None:
            raise ValueError("filtered: act_batch needs an agent bound to its env: call fit(env, steps) first")
        if not self.sequence:
            raise ValueError(f"filtered: act_batch needs a sequence action (MultiDiscrete with equal components), "
                             f"got {self.space}")
        needs = ["quality_batch"] if cfg.value == "oracle" else []
        needs += ["catastrophic_batch"] if self.net is None else []
        missing = [name for name in needs if not hasattr(inner, name)]
        if missing:
            raise ValueError(f"filtered: act_batch needs {type(inner).__name__}.{' and .'.join(missing)}() "
                             "(Completion-v0 has them)")
        if chunk < 1:
            raise ValueError(f"filtered: act_batch: chunk must be >= 1, got {chunk}")
        obs = np.asarray(obs, dtype=np.float32)
        B, K, L = len(obs), cfg.candidates, self.space.shape[0]
        if B and obs[0].size != self.obs_dim:
            raise ValueError(f"filtered: act_batch: obs must be (B, {self.obs_dim} values), got shape {obs.shape}")
        if cfg.generator != "uniform":
            if self.proposal is None:
                raise RuntimeError("filtered: the ppo generator is not trained yet (fit trains it first)")
            cands = self.proposal.sample_batch(obs.reshape(B, -1), K, self.torch_rng).astype(np.int64)
        else:  # the stream of B calls of _candidates: equal components, so a scalar bound draws the same numbers
            cands = self.rng.integers(0, int(self.space.nvec[0]), size=(B, K, L))
        flat, p, quality = obs.reshape(B, -1), np.empty((B, K)), np.zeros((B, K))
        rows = max(1, chunk // K)  # prompts per chunk of the networks' B·K rows
        networks = self.net is not None or cfg.value == "learned"
        for lo in range(0, B, rows) if networks else ():
            enc = self._encode(cands[lo:lo + rows].reshape(-1, L))
            if self.net is not None:
                p[lo:lo + rows] = torch.sigmoid(self._net_rows(self.net, flat[lo:lo + rows], enc)).double().numpy()
            if cfg.value == "learned":
                quality[lo:lo + rows] = self._learned_value(flat[lo:lo + rows], enc)
        if self.net is None:
            p = inner.catastrophic_batch(core, cands, idx).astype(np.float64)
            self.last_overseer_queries = B * K
        if cfg.value == "oracle":
            quality = inner.quality_batch(core, cands, idx)
        pick, self.last_accepted, self.last_fallback = _choose(p, quality, cfg.threshold, cfg.fallback, self.rng)
        self.last_evaluations = B * K if cfg.value != "first" else 0
        return cands[np.arange(B), pick]

    def state_dict(self) -> dict:
        """The trained weights: the classifier's, a learned value's and a ``ppo`` generator's."""
        state = {} if self.net is None else {"classifier": self.net.state_dict()}
        if self.value_net is not None:
            state["value"] = self.value_net.state_dict()
            state["value_scale"] = torch.tensor(self.value_scale)
        if self.config.generator == "ppo" and self.proposal is not None:
            state["generator"] = self.proposal.agent.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "classifier" in state:
            self.net.load_state_dict(state["classifier"])
        if "generator" in state:
            self.proposal.agent.load_state_dict(state["generator"])
        if "value" in state:
            self.value_net.load_state_dict(state["value"])
            self.value_scale = float(state["value_scale"])


def _choose(p: np.ndarray, quality: np.ndarray, threshold: float, fallback: str, rng) -> tuple:
    """The decision rule of ``filtered`` for ``B`` prompts of ``K`` candidates each.

    ``p`` and ``quality`` are ``(B, K)``: each candidate's P(catastrophe) and value. A candidate is
    accepted when ``p <= threshold``; the pick is the accepted one of highest quality (the first on
    ties, so a constant quality picks the first accepted). A prompt with no accepted candidate falls
    back to the candidate of least ``p`` (``fallback="safest"``, the first on ties) or to a uniformly
    random one (``"random"``: one draw from ``rng`` per such prompt, in order).

    Returns ``pick`` (int ``(B,)``, an index into ``K``), ``accepted`` (int ``(B,)``, how many were
    accepted) and ``fell_back`` (bool ``(B,)``).
    """
    ok = p <= threshold
    accepted = ok.sum(axis=1)
    fell_back = accepted == 0
    masked = np.where(ok, quality, -np.inf)
    pick = (ok & (masked == masked.max(axis=1, keepdims=True))).argmax(axis=1)
    rows = np.flatnonzero(fell_back)
    if len(rows):
        pick[rows] = p[rows].argmin(axis=1) if fallback == "safest" else rng.integers(p.shape[1], size=len(rows))
    return pick, accepted, fell_back
