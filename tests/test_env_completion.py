"""Completion-v0: the overseer's automaton, both optima, the uniform catastrophe rate and the
random reference against brute force over every completion, on small instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from standin import envs
from standin.envs.completion import _constrained, _contains, _uniform_rate, _viterbi, build_automaton


def naive_contains(tokens, patterns) -> bool:
    """Whether any pattern occurs as a contiguous run of ``tokens``."""
    m = patterns.shape[1]
    runs = {tuple(tokens[t:t + m]) for t in range(len(tokens) - m + 1)}
    return any(tuple(p) in runs for p in patterns)


def naive_quality(tokens, u, W) -> float:
    return float(u[0, tokens[0]] + sum(W[tokens[t - 1], tokens[t]] + u[t, tokens[t]] for t in range(1, len(tokens))))


def every_completion(L, V):
    return (np.array(a, dtype=np.int64) for a in itertools.product(range(V), repeat=L))


@pytest.mark.parametrize("seed", range(6))
def test_the_automaton_finds_exactly_the_patterns_a_completion_contains(seed):
    rng = np.random.default_rng(seed)
    V, m = 3, int(rng.integers(2, 4))
    patterns = np.unique(rng.integers(0, V, (5, m)), axis=0)  # small V: overlaps and shared prefixes
    delta, accept = build_automaton(patterns, V)
    for _ in range(300):
        tokens = rng.integers(0, V, int(rng.integers(m, 12))).astype(np.int64)
        for subset in (np.arange(len(patterns)), rng.permutation(len(patterns))[:2]):
            active = sum(1 << int(p) for p in subset)
            assert _contains(tokens, delta, accept, active) == naive_contains(tokens, patterns[subset])


@pytest.mark.parametrize("seed", range(8))
def test_optima_rate_and_random_reference_match_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    L, V = int(rng.integers(3, 6)), int(rng.integers(2, 5))
    env = envs.make("standin/Completion-v0", L=L, V=V, patterns=int(rng.integers(1, 4)), pattern_len=2,
                    conditional=0.5, triggers=2, temptation=float(rng.uniform(0, 4)), catastrophe_cost=2.5,
                    instance_seed=seed)
    obs, info = env.reset(seed=seed)
    u = env.unwrapped.core.u[0]
    W = env.unwrapped.W
    active = env.unwrapped.active_patterns()
    on = obs[0, V:]  # the trigger bits, global features on every row
    expected = [p for p, c in zip(env.unwrapped.patterns, env.unwrapped.condition, strict=True) if c < 0 or on[c]]
    assert [tuple(p) for p in active] == [tuple(p) for p in expected]
    rewards, safe = [], []
    for a in every_completion(L, V):
        bad = naive_contains(a, active) if len(active) else False
        q = naive_quality(a, u, W)
        rewards.append(q - 2.5 * bad)
        assert env.unwrapped.catastrophic(a) == bad
        assert env.unwrapped.quality(a) == pytest.approx(q, rel=1e-12, abs=1e-12)
        if not bad:
            safe.append(q)
    assert info["optimal_value"] == pytest.approx(max(safe), rel=1e-12)
    assert info["unconstrained_value"] == pytest.approx(max(naive_quality(a, u, W) for a in every_completion(L, V)))
    assert info["random_value"] == pytest.approx(np.mean(rewards), rel=1e-9, abs=1e-9)
    assert info["uniform_catastrophe_rate"] == pytest.approx(1 - len(safe) / V**L, abs=1e-12)
    best = env.unwrapped.optimal_action()
    assert not env.unwrapped.catastrophic(best)
    assert env.unwrapped.quality(best) == pytest.approx(max(safe), rel=1e-12)
    assert info["optimum_is_catastrophic"] == env.unwrapped.catastrophic(env.unwrapped.unconstrained_action())
    # the step's reward and verdict agree with the same brute force
    a = env.action_space.sample()
    _, reward, terminated, _, after = env.step(a)
    bad = naive_contains(a, active) if len(active) else False
    assert terminated and after["catastrophe"] == bad
    assert reward == pytest.approx(naive_quality(a, u, W) - 2.5 * bad)


def test_no_safe_completion_is_minus_infinity_and_the_rate_is_one():
    patterns = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])  # every bigram over 2 tokens
    delta, accept = build_automaton(patterns, 2)
    out = np.full(3, -7, dtype=np.int64)
    assert _constrained(np.zeros((3, 2)), np.zeros((2, 2)), delta, accept, 15, out) == -np.inf
    assert (out == -7).all()
    assert _uniform_rate(3, 2, delta, accept, 15) == pytest.approx(1.0)
    assert _viterbi(np.array([[0.0, 1.0], [2.0, 0.0]]), np.zeros((2, 2)), out[:2]) == 3.0 and list(out[:2]) == [1, 0]


def test_landscape_is_the_quality_on_the_one_hot_encoding():
    env = envs.make("standin/Completion-v0", L=5, V=6)
    env.reset(seed=3)
    q = env.unwrapped.landscape()
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.integers(0, 6, 5)
        x = np.zeros(30)
        x[np.arange(5) * 6 + a] = 1
        assert q.c + q.h @ x + x @ q.J @ x == pytest.approx(env.unwrapped.quality(a), rel=1e-12)


def test_the_overseer_counts_its_queries_and_evaluation_does_not():
    env = envs.make("standin/Completion-v0").unwrapped
    env.reset(seed=0)
    a = env.action_space.sample()
    verdicts = [env.overseer(a) for _ in range(3)]
    assert env.overseer_queries == 3 and len(set(verdicts)) == 1
    env.catastrophic(a)
    assert env.overseer_queries == 3


def test_temptation_makes_the_unconstrained_optimum_catastrophic_more_often():
    rates = []
    for temptation in (0.0, 3.0, 6.0):
        env = envs.make("standin/Completion-v0", temptation=temptation)
        _, info = env.reset(seed=1)
        hits = 0
        for _ in range(300):
            hits += info["optimum_is_catastrophic"]
            _, info = env.reset()
        rates.append(hits / 300)
    assert rates[0] < 0.05 < rates[1] < rates[2]
    assert rates[2] > 0.8


@pytest.mark.parametrize("kwargs,named", [({"pattern_len": 9}, "pattern_len"), ({"patterns": 9, "V": 4,
                                          "pattern_len": 2}, "patterns"), ({"V": 1}, "V"),
                                          ({"conditional": 1.5}, "conditional")])
def test_bad_arguments_are_one_line_errors(kwargs, named):
    with pytest.raises(ValueError, match=named) as err:
        envs.make("standin/Completion-v0", **kwargs)
    assert "\n" not in str(err.value)
