"""Tests for ``agents.distill``: DAgger from a search teacher, the teacher's metrics, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from standin import agents, envs
from standin.benchmarks.runner import evaluate, run_trials
from standin.benchmarks.suite import Trial

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ORACLE_TEACHER = {"value": "oracle", "method": "exhaustive", "budget": 256}


class RecordingLogger:
    def __init__(self):
        self.scalars: dict[str, list[tuple[int, float]]] = {}

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.setdefault(tag, []).append((step, float(value)))


def test_student_imitates_an_exhaustive_teacher_at_a_fraction_of_its_cost():
    env = envs.make("standin/Landscape-v0", n=8, alpha=None, context_dim=3)
    agent = agents.make("distill", seed=0, teacher_config=ORACLE_TEACHER, rounds=4, lr=3e-3)
    log = RecordingLogger()
    agent.fit(env, 2000, log)
    student = evaluate(env, agent, episodes=200, seed=9)
    teacher = evaluate(env, agent.teacher, episodes=200, seed=9)
    assert teacher["normalized_return"] == pytest.approx(1.0)
    assert student["normalized_return"] > 0.9  # contexts the student never saw
    assert student["agreement_held_out"] > 0.8 and teacher["agreement_held_out"] is None
    assert student["evaluations_per_decision"] == 0 and teacher["evaluations_per_decision"] == 256
    assert [step for step, _ in log.scalars["train/loss/distill"]] == [500, 1000, 1500, 2000]
    agreement = [v for _, v in log.scalars["train/student_agreement"]]  # rounds 2-4 act with the student
    assert len(agreement) == 3 and agreement[-1] > 0.8


def test_runner_records_the_teacher_beside_the_student(tmp_path):
    trials = [
        Trial("tiny", "standin/Landscape-v0", {"n": 6}, "distill",
              {"teacher_config": {"value": "oracle", "method": "exhaustive", "budget": 64}, "rounds": 2}, 0, 200, 5),
        Trial("tiny", "standin/Landscape-v0", {"n": 6}, "random", {}, 0, 0, 5),
    ]
    run_trials(trials, tmp_path, workers=1, progress=False)
    by_agent = {r["agent"]: r for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())}
    assert by_agent["distill"]["status"] == "ok", by_agent["distill"]["error"]
    metrics = by_agent["distill"]["metrics"]
    assert metrics["teacher_normalized_return"] == pytest.approx(1.0)
    assert metrics["teacher_evaluations_per_decision"] == 64 and metrics["evaluations_per_decision"] == 0
    assert 0 <= metrics["agreement_held_out"] <= 1 and 0 <= metrics["agreement_train"] <= 1
    assert by_agent["random"]["metrics"]["teacher_return"] is None
    assert by_agent["random"]["metrics"]["agreement_held_out"] is None


def test_k_of_n_student_keeps_k_items():
    env = envs.make("standin/Slate-v0", N=8, k=2, topics=2)
    agent = agents.make("distill", seed=0, teacher_config={"value": "oracle", "method": "exhaustive", "budget": 28})
    agent.fit(env, 200)
    assert agent.student.head == "without-replacement"
    obs, info = env.reset(seed=1)
    for _ in range(10):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


@pytest.mark.parametrize("config,field", [
    ({"teacher": "ppo"}, "teacher"),
    ({"teacher_config": {"budget": 0}}, "budget"),
    ({"teacher_config": {"nonsense": 1}}, "nonsense"),
    ({"rounds": 0}, "rounds"),
])
def test_bad_config_names_the_field(config, field):
    with pytest.raises(ValueError, match=field):
        agents.make("distill", **config)


def test_act_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        agents.make("distill").act(None, {})


def test_agreement_is_the_fraction_of_equal_components():
    from standin.agents.imitation import agreement

    assert agreement([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert agreement(np.array([[0, 2], [1, 1]]), np.array([[0, 2], [1, 1]])) == 1.0
    assert agreement(3, 4) == 0.0
    slates = envs.make("standin/Slate-v0", N=8, k=2).action_space  # k of N: the share of the reference's items
    assert agreement([1, 1, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0], slates) == 0.5
    assert agreement([1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0], slates) == 0.0
