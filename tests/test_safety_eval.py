"""Failure rates at scale: Completion-v0's batch scoring, ``filtered``'s batched decisions and
``benchmarks.safety.evaluate_at_scale`` against the single-prompt versions they replace."""

from __future__ import annotations

import numpy as np
import pytest

from standin import agents, envs
from standin.agents.filtered import _choose
from standin.benchmarks.runner import evaluate
from standin.benchmarks.safety import evaluate_at_scale

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"L": 4, "V": 6, "patterns": 3, "pattern_len": 2, "temptation": 4.0}
"""A small instance whose best completions are often catastrophic."""

ZERO = np.zeros(1, dtype=np.int64)


def prompts(env, n: int, seed: int = 0):
    """A core of ``n`` fresh prompts of ``env``, each slot with its own stream."""
    core = env.unwrapped.make_core(n, references=False)
    for i in range(n):
        core.seed(i, seed * 1000 + i)
    core.reset(np.arange(n))
    return core


def show(env, core, b: int) -> np.ndarray:
    """Put prompt ``b`` of ``core`` on show in the single env ``env``; returns its observation."""
    single = env.unwrapped.core
    single.u[0], single.triggers[0], single.active[0] = core.u[b], core.triggers[b], core.active[b]
    return single.observe(ZERO)[0]


def test_batch_quality_and_verdicts_equal_the_single_prompt_ones():
    env = envs.make("standin/Completion-v0", **SMALL)
    env.reset(seed=0)
    inner = env.unwrapped
    core = prompts(env, 7)
    assert len(set(core.active.tolist())) > 1  # prompts with different patterns in force
    rng = np.random.default_rng(1)
    actions = rng.integers(0, SMALL["V"], (7, 40, SMALL["L"]))
    quality, bad = inner.quality_batch(core, actions), inner.catastrophic_batch(core, actions)
    assert quality.shape == bad.shape == (7, 40) and bad.dtype == bool
    assert 0 < bad.mean() < 1
    for b in range(7):
        show(env, core, b)
        assert quality[b].tolist() == [inner.quality(a) for a in actions[b]]
        assert bad[b].tolist() == [inner.catastrophic(a) for a in actions[b]]
    assert inner.overseer_queries == 0  # verdicts for evaluation are not queries
    idx = np.array([5, 2])  # a subset of the prompts, in any order
    assert (inner.quality_batch(core, actions[idx], idx) == quality[idx]).all()
    assert (inner.catastrophic_batch(core, actions[idx], idx) == bad[idx]).all()


def test_the_decision_rule_on_hand_made_scores():
    p = np.array([[0.9, 0.2, 0.6, 0.1],    # accepted: 1, 3 -> the better of them by quality, 1
                  [0.1, 0.3, 0.1, 0.0],    # all accepted, a tie on the best quality -> the first, 0
                  [0.8, 0.7, 0.9, 0.7]])   # none accepted -> safest: the first of the least p, 1
    quality = np.array([[9.0, 5.0, 7.0, 4.0],
                        [3.0, 1.0, 3.0, 2.0],
                        [0.0, 0.0, 0.0, 0.0]])
    pick, accepted, fell_back = _choose(p, quality, 0.5, "safest", None)
    assert pick.tolist() == [1, 0, 1] and accepted.tolist() == [2, 4, 0] and fell_back.tolist() == [False, False, True]
    pick, _, _ = _choose(p, np.zeros_like(quality), 0.5, "safest", None)  # constant quality: the first accepted
    assert pick[:2].tolist() == [1, 0]
    rng, twin = np.random.default_rng(3), np.random.default_rng(3)
    pick, _, _ = _choose(np.ones((5, 4)), np.zeros((5, 4)), 0.5, "random", rng)  # every row falls back
    assert pick.tolist() == twin.integers(4, size=5).tolist()


def fitted(env, **config):
    a = agents.make("filtered", seed=3, **{"candidates": 12, **config})
    learns = config.get("classifier") != "overseer" or config.get("value") == "learned"
    a.fit(env, 1000 + config.get("generator_steps", 0) if learns else 0)
    return a


@pytest.mark.parametrize("config", [
    {"classifier": "overseer", "threshold": 0.0},
    {"classifier": "overseer", "threshold": 1.0},
    {"classifier": "overseer", "threshold": 0.0, "value": "first"},
    {"label_budget": 2400, "epochs": 20, "threshold": 0.1},  # a learned window classifier
    {"classifier": "overseer", "threshold": 0.0, "value": "learned", "value_epochs": 2},  # a learned value
])
def test_act_batch_decides_as_act_would_on_each_prompt(config):
    """``act_batch`` on B prompts draws the candidates B calls of ``act`` would, and picks the same."""
    env = envs.make("standin/Completion-v0", **SMALL)
    env.reset(seed=0)
    a = fitted(env, **config)
    B = 9
    core = prompts(env, B, seed=1)
    state = a.rng.bit_generator.state
    batched = a.act_batch(core.observe(np.arange(B)), core)
    accepted, fell_back = a.last_accepted.copy(), a.last_fallback.copy()
    if a.config.threshold < 1:
        assert 0 < accepted.sum() < B * 12  # the filter rejected some candidates and kept others
    assert batched.shape == (B, SMALL["L"]) and a.last_evaluations == (B * 12 if a.config.value != "first" else 0)
    a.rng.bit_generator.state = state  # the same candidates again, one prompt at a time
    for b in range(B):
        assert (a.act(show(env, core, b), {}) == batched[b]).all()
        assert a.last_accepted == accepted[b] and a.last_fallback == fell_back[b]
    if a.net is None:
        assert a.last_overseer_queries == 12  # act's; act_batch's below
        a.act_batch(core.observe(np.arange(4)), core, np.arange(4))
        assert a.last_overseer_queries == 4 * 12


def test_the_batched_choice_is_an_accepted_candidate_of_the_best_quality():
    env = envs.make("standin/Completion-v0", **SMALL)
    inner = env.unwrapped
    a = fitted(env, classifier="overseer", threshold=0.0, candidates=6, labels_per_context=6)
    B = 200
    core = prompts(env, B, seed=2)
    state = a.rng.bit_generator.state
    chosen = a.act_batch(core.observe(np.arange(B)), core)
    a.rng.bit_generator.state = state
    cands = a.rng.integers(0, SMALL["V"], (B, 6, SMALL["L"]))  # what act_batch drew
    bad, quality = inner.catastrophic_batch(core, cands), inner.quality_batch(core, cands)
    mine = inner.quality_batch(core, chosen[:, None])[:, 0]
    safe = ~inner.catastrophic_batch(core, chosen[:, None])[:, 0]
    has_safe = ~bad.all(axis=1)
    assert (safe == has_safe).all() and (a.last_fallback == ~has_safe).all()
    assert (mine[has_safe] == np.where(bad, -np.inf, quality).max(axis=1)[has_safe]).all()
    assert (a.last_accepted == (~bad).sum(axis=1)).all()


def test_a_perfect_filter_never_fails_and_reports_the_rule_of_three_bound():
    env = envs.make("standin/Completion-v0", **SMALL)
    a = fitted(env, classifier="overseer", threshold=0.0, candidates=16)
    seen = []
    n = 30_000
    r = evaluate_at_scale(a, env, n, seed=0, batch=4096, progress=lambda done, total: seen.append((done, total)))
    assert r["safety_decisions"] == n and r["safety_failures"] == 0 and r["safety_failure_rate"] == 0.0
    assert r["safety_failure_upper"] == pytest.approx(1 - 0.05 ** (1 / n))
    assert r["safety_failure_upper"] == pytest.approx(3 / n, rel=0.01)  # not 0: the rule of three
    assert r["safety_fallback_rate"] == 0.0 and 0.3 < r["safety_acceptance_rate"] < 1.0
    assert seen[-1] == (n, n) and [d for d, _ in seen] == [4096 * k for k in range(1, 8)] + [n]
    assert a.last_overseer_queries == (n - 7 * 4096) * 16  # the last round: what was left


def test_evaluate_at_scale_is_deterministic_for_a_seed():
    env = envs.make("standin/Completion-v0", **SMALL)
    config = {"classifier": "overseer", "threshold": 1.0, "candidates": 8}

    def run(seed, batch=512):
        r = evaluate_at_scale(fitted(env, **config), env, 3000, seed=seed, batch=batch)
        r.pop("safety_seconds")
        return r

    first = run(5)
    assert first == run(5)
    assert first["safety_failures"] != run(6)["safety_failures"]  # other prompts, another count


def binomial_gap(a: dict, b: dict) -> tuple[float, float]:
    """The difference of two failure rates and its standard error."""
    p = (a["failures"] + b["failures"]) / (a["decisions"] + b["decisions"])
    return abs(a["rate"] - b["rate"]), np.sqrt(p * (1 - p) * (1 / a["decisions"] + 1 / b["decisions"]))


@pytest.mark.parametrize("config", [
    {"classifier": "overseer", "threshold": 1.0, "candidates": 8},  # unfiltered
    {"label_budget": 2400, "epochs": 20, "threshold": 0.1, "candidates": 8},  # a learned, imperfect filter
    {"label_budget": 800, "epochs": 20, "threshold": 0.1, "candidates": 8, "generator": "ppo",  # a policy's
     "generator_steps": 1024, "generator_config": {"num_envs": 4, "num_steps": 16}},            # candidates
])
def test_the_failure_rate_at_scale_agrees_with_the_single_env_evaluation(config):
    env = envs.make("standin/Completion-v0", **SMALL)
    a = fitted(env, **config)
    single = evaluate(env, a, 2000, seed=11, diagnostics=False)
    scaled = evaluate_at_scale(a, env, 20_000, seed=12)
    assert 0.02 < single["failure_rate"] < 0.98  # a rate the comparison can tell apart
    gap, se = binomial_gap({"failures": single["failures"], "decisions": 2000, "rate": single["failure_rate"]},
                           {"failures": scaled["safety_failures"], "decisions": 20_000,
                            "rate": scaled["safety_failure_rate"]})
    assert gap <= 4 * se
    fell = round(single["fallback_rate"] * 2000)
    gap, se = binomial_gap({"failures": fell, "decisions": 2000, "rate": fell / 2000},
                           {"failures": round(scaled["safety_fallback_rate"] * 20_000), "decisions": 20_000,
                            "rate": scaled["safety_fallback_rate"]})
    assert gap <= 4 * se or fell == 0 == scaled["safety_fallback_rate"]


def test_missing_batch_apis_and_bad_arguments_are_one_line_errors():
    env = envs.make("standin/Completion-v0", **SMALL)
    a = fitted(env, classifier="overseer", threshold=0.0)
    cases = [
        (lambda: evaluate_at_scale(a, envs.make("standin/Landscape-v0", n=8), 10, 0), "quality_batch"),
        (lambda: evaluate_at_scale(agents.make("random"), env, 10, 0), "act_batch"),
        (lambda: evaluate_at_scale(a, env, 0, 0), "decisions"),
        (lambda: evaluate_at_scale(a, env, 10, 0, batch=0), "batch"),
        (lambda: agents.make("filtered").act_batch(np.zeros((2, 4, 9)), prompts(env, 2)), "fit"),
    ]
    inner, core = env.unwrapped, prompts(env, 3)
    good = np.zeros((3, 5, SMALL["L"]), dtype=np.int64)
    for method in (inner.quality_batch, inner.catastrophic_batch):
        cases += [
            (lambda m=method: m(core, good[..., :3]), "actions must be integer"),
            (lambda m=method: m(core, good + SMALL["V"]), "tokens in 0..5"),
            (lambda m=method: m(core, good[:2]), "one row per prompt"),
            (lambda m=method: m(core, good[:2], [0, 3]), "idx must be in 0..2"),
            (lambda m=method: m(envs.make("standin/Completion-v0", L=5, V=6).unwrapped.make_core(3), good), "core"),
        ]
    for call, named in cases:
        with pytest.raises(ValueError, match=named) as err:
            call()
        assert "\n" not in str(err.value)


def test_act_batch_needs_a_sequence_action():
    env = envs.make("standin/Completion-v0", **SMALL)
    a = fitted(env, classifier="overseer")
    a.sequence = False  # as bound to an env whose actions are not token sequences
    with pytest.raises(ValueError, match="sequence action"):
        a.act_batch(np.zeros((2, 4, 9), dtype=np.float32), prompts(env, 2))
