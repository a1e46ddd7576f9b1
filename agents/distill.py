"""``distill``: a student policy that imitates a search-based teacher, trained by DAgger.

The third way to act (DESIGN.md): value + search's decisions amortised into a policy, one forward
pass per decision. The teacher is any ``value-search`` or ``propose-search`` config, or a ``filtered``
conservative policy (its labels count in the student's ``train_overseer_queries``). The training
budget of ``steps`` env steps pays for both: a teacher that learns is trained first on
``teacher_steps`` of them (half by default), then DAgger (Ross et al., 2011) spends the rest in
``rounds`` rounds:

1. roll out for ``1/rounds`` of the remaining environment steps, acting with the teacher in the first round
   and with the student afterwards (so the student sees the states *it* visits);
2. label every visited state with the teacher's action;
3. train the student by cross-entropy (maximum likelihood) on all labels so far, ``epochs``
   passes of ``batch_size`` minibatches.

The student is PPO's actor with any head (``agents.imitation.ImitationPolicy``); it acts by its
mode. The runner evaluates the teacher beside it (``teacher_*`` metrics): student against teacher
return, and the decision cost of each. Evaluation contexts are never seen in training, so the
student's score is on held-out states; ``agreement_held_out`` (how much of the teacher's action the
student repeats there: its share of the teacher's items, or of equal components) against
``train_agreement`` (the same on the last round's training contexts) shows how much of the
imitation carries over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from standin import agents as registry
from standin.agents.common import ActionCodec, NullLogger, TrainingCost, seed_everything, tick
from standin.agents.heads import default_head
from standin.agents.imitation import ImitationPolicy, agreement
from standin.agents.layout import choose_torso
from standin.agents.ppo import HEADS

TEACHERS = ("value-search", "propose-search", "filtered")


@dataclass
class DistillConfig:
    """A student policy trained by DAgger to imitate a search-based teacher."""

    teacher: Literal["value-search", "propose-search", "filtered"] = "value-search"
    """The teacher agent."""
    teacher_config: dict = field(default_factory=dict)
    """The teacher's config (a table, e.g. ``{value = "oracle", method = "anneal", budget = 1000}``)."""
    teacher_steps: int | None = None
    """Of the training budget ``steps``, the environment steps that train the teacher first (a learned
    value needs them; an oracle none); the student's DAgger rollouts get the rest, so the agent as a
    whole spends ``steps``. None: half the budget for a teacher that learns, 0 for one that doesn't."""
    rounds: int = 4
    """DAgger rounds: the first acts with the teacher, the rest with the student."""
    epochs: int = 4
    """Passes over all labels so far after each round."""
    batch_size: int = 128
    """Minibatch size of the cross-entropy steps."""
    lr: float = 1e-3
    """Adam learning rate of the student."""
    head: Literal["factored", "autoregressive", "without-replacement"] | None = None
    """The student's head (see ``ppo``); None: ``without-replacement`` for k-of-N spaces, else ``factored``."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the student."""
    torso: Literal["mlp", "items"] | None = None
    """The student's network (see ``ppo``): None takes the item network on item-structured observations."""

    def __post_init__(self):
        self.hidden_sizes = tuple(self.hidden_sizes)  # a TOML suite gives a list
        rules = [
            ("teacher", self.teacher in TEACHERS, f"one of {', '.join(TEACHERS)}"),
            ("teacher_config", isinstance(self.teacher_config, dict), "a table of the teacher's config"),
            ("teacher_steps", self.teacher_steps is None or self.teacher_steps >= 0, ">= 0 or None"),
            ("rounds", self.rounds >= 1, ">= 1"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("head", self.head is None or self.head in HEADS, f"one of {', '.join(HEADS)} or None"),
            ("torso", self.torso in (None, "mlp", "items"), "one of 'mlp', 'items' or None"),
            ("hidden_sizes", all(isinstance(h, int) and h >= 1 for h in self.hidden_sizes), "integers >= 1"),
        ]
        for name, ok, allowed in rules:
            if not ok:
                raise ValueError(f"distill: {name} must be {allowed}, got {getattr(self, name)!r}")
        registry.build_config(registry.agent_class(self.teacher).Config, self.teacher_config,
                              owner=f"distill: teacher {self.teacher}")  # a bad teacher config fails now


class DistillAgent:
    Config = DistillConfig
    kind = "policy"

    def __init__(self, config: DistillConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self.last_evaluations = 0
        self.cost = TrainingCost()
        self.student: ImitationPolicy | None = None
        self.train_agreement: float | None = None
        """The student's mean agreement (``agents.imitation.agreement``) with the teacher in the last
        DAgger round's rollout (training contexts, before training on them); None until a second
        round has run."""
        self.teacher = registry.make(config.teacher, seed=seed, **config.teacher_config)

    @staticmethod
    def trains(config: DistillConfig, env=None) -> bool:
        """The student always learns."""
        return True

    def budget_split(self, steps: int, env=None) -> tuple[int, int]:
        """``(teacher steps, student steps)`` of a training budget of ``steps`` env steps on ``env``."""
        cfg = self.config
        teacher_steps = cfg.teacher_steps
        if teacher_steps is None:
            teacher_steps = steps // 2 if registry.trains(cfg.teacher, self.teacher.config, env) else 0
        if steps > 0 and teacher_steps >= steps:
            raise ValueError(f"distill: teacher_steps ({teacher_steps}) must be below the training budget ({steps} "
                             "env steps), which also pays for the student's rollouts")
        return teacher_steps, steps - teacher_steps

    def fit(self, env, steps: int, log=None) -> None:
        """Train the teacher, then the student by DAgger: ``steps`` env steps in all, split by
        ``teacher_steps`` (``steps = 0``: build both untrained, e.g. to load a checkpoint)."""
        cfg = self.config
        log = log or NullLogger()
        self.env = env
        teacher_steps, steps = self.budget_split(steps, env)
        self.teacher_steps = teacher_steps
        self.teacher.fit(env, teacher_steps, log)
        self.cost = TrainingCost()
        self.cost.add(self.teacher.cost)
        self.rng = seed_everything(self.seed)  # seeds the student's init
        codec = ActionCodec(env.action_space)
        obs_dim = int(np.prod(env.observation_space.shape))
        head = cfg.head or default_head(env.action_space)
        self.student = ImitationPolicy(codec, obs_dim, head, cfg.hidden_sizes, cfg.lr, "distill",
                                       choose_torso(cfg.torso, env, head, "distill"))
        if steps == 0:
            return
        states, labels = [], []
        rounds = min(cfg.rounds, steps)
        obs, info = env.reset(seed=self.seed)
        done_steps, start = teacher_steps, time.perf_counter()  # curves count the teacher's steps too
        for round_ in range(rounds):
            agreed = 0
            per_round = steps // rounds + (round_ < steps % rounds)  # the rounds add up to the budget
            for _ in range(per_round):
                teacher_action = self.teacher.act(obs, info)
                self.cost.label_evaluations += self.teacher.last_evaluations
                self.cost.search_evaluations += self.teacher.last_evaluations
                states.append(np.asarray(obs, dtype=np.float32).reshape(-1))
                labels.append(self.student.target(teacher_action))
                action = teacher_action if round_ == 0 else self.student.mode(obs, info, env)
                agreed += agreement(action, teacher_action, env.action_space)
                obs, _, terminated, truncated, info = env.step(action)
                self.cost.env_steps += 1
                if terminated or truncated:
                    obs, info = env.reset()
            done_steps += per_round
            losses = self._train_student(np.stack(states), np.stack(labels))
            log.scalar("train/loss/distill", float(np.mean(losses)), done_steps)
            if round_ > 0:
                self.train_agreement = agreed / per_round
                log.scalar("train/student_agreement", self.train_agreement, done_steps)
            log.scalar("perf/env_steps_per_s", (done_steps - teacher_steps) / (time.perf_counter() - start), done_steps)
            tick(log, done_steps)  # the student changes once per round: this round's is trained now

    def chosen(self) -> dict:
        """The config fields that ``fit`` chose from the env (see ``agents.Agent``), the teacher's too."""
        teacher = self.teacher.chosen() if hasattr(self.teacher, "chosen") else {}
        return {"head": self.student.head, "torso": "mlp" if self.student.net.items is None else "items",
                "teacher_steps": self.teacher_steps,
                "teacher_config": {**self.config.teacher_config, **teacher}}

    def state_dict(self) -> dict:
        """The trained weights (``agents.checkpoint`` saves them): the student's and the teacher's."""
        return {"student": self.student.net.state_dict(), "teacher": self.teacher.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.student.net.load_state_dict(state["student"])
        self.teacher.load_state_dict(state["teacher"])

    def _train_student(self, states: np.ndarray, labels: np.ndarray) -> list[float]:
        cfg = self.config
        losses = []
        for _ in range(cfg.epochs):
            order = self.rng.permutation(len(states))
            for lo in range(0, len(states), cfg.batch_size):
                mb = order[lo : lo + cfg.batch_size]
                losses.append(self.student.learn(states[mb], labels[mb]))
                self.cost.gradient_steps += 1
        return losses

    def act(self, obs, info):
        """The student's decision: its head's mode (one forward pass; no landscape evaluations)."""
        if self.student is None:
            raise RuntimeError("distill: call fit(env, steps) before act()")
        self.last_evaluations = 0
        return self.student.mode(obs, info, self.env)

