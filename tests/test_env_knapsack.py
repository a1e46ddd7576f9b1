"""Knapsack-v0: the dynamic programme against brute force and an independent MILP solver, the LP
bound, the landscape against the step reward, the instance classes, the reference switch, the
vector env against single envs, and argument checks."""

from __future__ import annotations

import itertools
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from standin import search
from standin.envs.knapsack import (
    EXACT_CELLS,
    INSTANCES,
    KnapsackEnv,
    KnapsackVectorEnv,
    lp_bound,
    optimal_packing,
    optimum,
)

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)
MODES = ("zero", "penalty")


# ============================================================== slow, readable twins


def naive_reward(w, v, capacity, penalty, x) -> float:
    """The reward of packing ``x`` straight from the definition (``penalty=None``: hard capacity)."""
    load = sum(int(wi) for wi, xi in zip(w, x, strict=True) if xi)
    gain = sum(int(vi) for vi, xi in zip(v, x, strict=True) if xi)
    if load <= capacity:
        return float(gain)
    if penalty is None:
        return 0.0
    return float(gain) - float(penalty) * float(load - capacity)


def brute_force(w, v, capacity, penalty) -> float:
    """The best reward over all ``2^n`` packings (the DP's twin)."""
    return max(naive_reward(w, v, capacity, penalty, x) for x in itertools.product((0, 1), repeat=len(w)))


def naive_lp_bound(w, v, capacity, penalty) -> Fraction:
    """The LP relaxation ``max Σ v_i x_i − p·max(0, Σ w_i x_i − C)`` over ``x ∈ [0, 1]^n`` in exact
    arithmetic: fill the capacity by density, best first; beyond it take every remaining fraction
    of an item denser than ``p`` (the ``_lp_bound`` kernel's twin)."""
    items = sorted(zip(w, v, strict=True), key=lambda item: Fraction(int(item[1]), int(item[0])), reverse=True)
    room, total = Fraction(int(capacity)), Fraction(0)
    for wi, vi in items:
        wi, vi = int(wi), int(vi)
        share = min(Fraction(1), room / wi)
        total += share * vi
        room -= share * wi
        if penalty is not None and Fraction(vi, wi) > Fraction(penalty):
            total += (1 - share) * (vi - Fraction(penalty) * wi)
    return total


def milp_optimum(w, v, capacity, penalty) -> float:
    """The optimum by scipy's MILP solver (HiGHS): ``x`` binary and, with a penalty, an overflow
    ``o ≥ 0`` with ``w·x − o ≤ C`` and objective ``v·x − p·o``."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(w)
    w, v = np.asarray(w, float), np.asarray(v, float)
    if penalty is None:
        c, A = -v, w[None]
        integrality, bounds = np.ones(n), Bounds(0, 1)
    else:
        c, A = np.append(-v, penalty), np.append(w, -1.0)[None]
        integrality = np.append(np.ones(n), 0)
        bounds = Bounds(np.zeros(n + 1), np.append(np.ones(n), np.inf))
    res = milp(c, constraints=LinearConstraint(A, -np.inf, capacity), integrality=integrality, bounds=bounds,
               options={"mip_rel_gap": 0.0, "time_limit": 60.0})
    assert res.success, res.message
    return -res.fun


# ============================================================== helpers


def instance(env):
    """The instance on show: ``(w, v, C, penalty or None)``."""
    core = env.unwrapped.core
    penalty = float(core.penalty[0]) if env.unwrapped.infeasible == "penalty" else None
    return core.weights[0].copy(), core.values[0].copy(), int(core.capacity[0]), penalty


def random_actions(rng, n, count):
    """Random packings at several densities, so that some fit and some overflow."""
    return [(rng.random(n) < rng.uniform(0.1, 0.9)).astype(np.int8) for _ in range(count)]


# ============================================================== the optimum


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", INSTANCES)
@pytest.mark.parametrize("n", [2, 7, 12])
def test_dp_optimum_and_optimal_action_match_brute_force(n, kind, mode):
    env = KnapsackEnv(n=n, instance=kind, weight_range=30, infeasible=mode, horizon=3)
    _, info = env.reset(seed=n)
    for _ in range(3):
        w, v, c, p = instance(env)
        best = brute_force(w, v, c, p)
        assert info["optimal_value"] == pytest.approx(best, rel=1e-12, abs=1e-12)
        opt = env.optimal_action()
        assert naive_reward(w, v, c, p, opt) == pytest.approx(best, rel=1e-12, abs=1e-12)
        _, reward, terminated, _, info_next = env.step(opt)
        assert reward == info["optimal_value"]  # exactly: the same arithmetic
        info = info_next
        if terminated:
            _, info = env.reset()


@SETTINGS
@given(
    items=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=10),
    share=st.floats(0.0, 1.2),
    penalty=st.one_of(st.none(), st.just(0.0), st.floats(0.0, 3.0), st.floats(10.0, 100.0)),
)
def test_solver_functions_match_brute_force_for_any_penalty(items, share, penalty):
    w, v = (np.array(col) for col in zip(*items, strict=True))
    capacity = max(1, int(share * w.sum()))
    best = brute_force(w, v, capacity, penalty)
    assert optimum(w, v, capacity, penalty) == pytest.approx(best, rel=1e-12, abs=1e-12)
    assert naive_reward(w, v, capacity, penalty, optimal_packing(w, v, capacity, penalty)) == pytest.approx(
        best, rel=1e-12, abs=1e-12)
    bound = lp_bound(w, v, capacity, penalty)
    assert bound == pytest.approx(float(naive_lp_bound(w, v, capacity, penalty)), rel=1e-12, abs=1e-9)
    assert bound >= best - 1e-9 * max(1.0, abs(best))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind, n", [("uncorrelated", 200), ("weakly_correlated", 120), ("strongly_correlated", 60),
                                     ("subset_sum", 40)])
def test_dp_optimum_matches_an_independent_milp_solver(kind, n, mode):
    env = KnapsackEnv(n=n, instance=kind, weight_range=100, infeasible=mode, horizon=2)
    _, info = env.reset(seed=3)
    for _ in range(2):
        w, v, c, p = instance(env)
        want = milp_optimum(w, v, c, p)
        assert info["optimal_value"] == pytest.approx(want, rel=1e-9, abs=1e-6)
        assert env.reward(env.optimal_action()) == info["optimal_value"]
        assert lp_bound(w, v, c, p) >= info["optimal_value"] - 1e-9
        _, _, _, _, info = env.step(np.zeros(n, dtype=np.int8))


def test_lp_bound_on_a_hand_computed_example():
    # densities 3, 2, 1: item 0 fits (6), then 2 of item 1's 3 weight units fit (6 · 2/3 = 4)
    w, v = [2, 3, 4], [6, 6, 4]
    assert lp_bound(w, v, 4) == 10.0
    assert optimum(w, v, 4) == 6.0
    assert lp_bound(w, v, 4, penalty=3.0) == 10.0  # p = the largest density: the relaxation is Dantzig's
    # p = 1.5 < item 1's density 2: the rest of item 1 also pays, (1/3)(6 − 1.5·3) = 0.5
    assert lp_bound(w, v, 4, penalty=1.5) == 10.5
    assert optimum(w, v, 4, penalty=1.5) == 10.5  # items 0 and 1, one unit over: 12 − 1.5


def test_default_penalty_lets_a_partial_overflow_pay():
    """The documented caveat: with ``p = max density`` an overflow smaller than an item can pay."""
    assert optimum([10], [10], 9) == 0.0
    assert optimum([10], [10], 9, penalty=1.0) == 9.0
    np.testing.assert_array_equal(optimal_packing([10], [10], 9, penalty=1.0), [1])
    env = KnapsackEnv(n=30, infeasible="penalty", horizon=20)
    _, info = env.reset(seed=0)
    for _ in range(20):
        w, v, c, p = instance(env)
        assert p == pytest.approx(np.max(v / w), rel=1e-15)
        assert optimum(w, v, c) <= info["optimal_value"] <= lp_bound(w, v, c, p) + 1e-9
        _, _, terminated, _, info = env.step(env.optimal_action())


@pytest.mark.parametrize("n, R, mode, exact", [
    (100, 20000, "zero", True),  # n · ⌊0.5 · n · R⌋ = 10^8 exactly
    (100, 20001, "zero", False),
    (100, 20000, "penalty", False),  # the penalty's programme runs R − 1 capacities further
    (1000, 100, "zero", True),
    (4096, 100, "zero", False),
    (4096, 1000, "penalty", False),
])
def test_reference_switches_to_the_lp_bound_for_large_n_times_r(n, R, mode, exact):
    env = KnapsackEnv(n=n, weight_range=R, infeasible=mode)
    ref = env.reference
    assert ref.high_is_optimum is exact
    assert ref.high == ("exact optimum (dynamic programme)" if exact else "LP relaxation upper bound (Dantzig)")
    assert ref.low == "empty knapsack (0)" and ref.per == "decision"
    cells = n * (int(0.5 * n * R) + (R - 1 if mode == "penalty" else 0))
    assert exact == (cells <= EXACT_CELLS)
    if exact:
        return
    assert ref.high_is_bound
    with pytest.raises(RuntimeError, match="optimal_action"):
        env.optimal_action()
    _, info = env.reset(seed=1)
    w, v, c, p = instance(env)
    assert info["optimal_value"] == pytest.approx(float(naive_lp_bound(w, v, c, p)), rel=1e-12)
    assert info["random_value"] == 0.0
    # a greedy packing by density is feasible, so it scores at most the bound
    greedy = np.zeros(n, dtype=np.int8)
    room = c
    for k in np.argsort(-v / w, kind="stable"):
        if w[k] <= room:
            greedy[k], room = 1, room - w[k]
    assert 0 < env.reward(greedy) <= info["optimal_value"]


# ============================================================== the landscape


@pytest.mark.parametrize("mode", MODES)
def test_landscape_equals_step_reward_and_its_deltas_match_recomputation(mode):
    n = 25
    env = KnapsackEnv(n=n, instance="weakly_correlated", infeasible=mode, horizon=100)
    env.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(4):
        land = env.landscape()
        assert land.m == n
        w, v, c, p = instance(env)
        for x in random_actions(rng, n, 20):
            want = naive_reward(w, v, c, p, x)
            assert land(x) == want
            assert env.reward(x) == want
            aux = np.zeros(land.aux_size)
            land.init(x, aux, land.params)
            np.testing.assert_array_equal(aux, [np.dot(w, x), np.dot(v, x)])
            for _ in range(5):
                i, j = (int(t) for t in rng.choice(n, 2, replace=False))
                j = j if rng.random() < 0.5 else -1
                moved = x.copy()
                moved[i] ^= 1
                if j >= 0:
                    moved[j] ^= 1
                delta = land.delta(x, aux, land.params, i, j)
                assert delta == pytest.approx(naive_reward(w, v, c, p, moved) - want, abs=1e-9)
                land.update(x, aux, land.params, i, j)
                x = moved
                want = naive_reward(w, v, c, p, x)
                np.testing.assert_array_equal(aux, [np.dot(w, x), np.dot(v, x)])
        x = random_actions(rng, n, 1)[0]
        assert env.step(x)[1] == land(x)


@pytest.mark.parametrize("mode", MODES)
def test_annealing_on_the_landscape_reaches_the_dp_optimum(mode):
    env = KnapsackEnv(n=12, instance="uncorrelated", weight_range=50, infeasible=mode, horizon=10)
    _, info = env.reset(seed=4)
    for seed in range(3):
        res = search.maximize(env.landscape(), env.action_space, "anneal", 20_000, seed=seed, restarts=4)
        assert res.score == pytest.approx(info["optimal_value"], abs=1e-9)
        _, reward, _, _, info = env.step(res.action)
        assert reward == res.score


# ============================================================== instances and observations


@pytest.mark.parametrize("R", [1, 5, 37, 1000])
@pytest.mark.parametrize("kind", INSTANCES)
def test_instance_classes_have_the_stated_value_weight_relations(kind, R):
    n, steps = 64, 40
    env = KnapsackVectorEnv(num_envs=4, n=n, instance=kind, weight_range=R, capacity_ratio=0.3, references=False)
    obs, _ = env.reset(seed=9)
    d = max(1, R // 10)
    ws, vs = [], []
    for _ in range(steps):
        core = env.core
        w, v, c = core.weights.copy(), core.values.copy(), core.capacity.copy()
        assert ((1 <= w) & (w <= R)).all()
        np.testing.assert_array_equal(c, np.maximum(1, np.floor(0.3 * w.sum(axis=1))).astype(np.int64))
        assert obs.shape == (4, n, 2)  # item-structured: row k is item k's (w_k / C, v_k / max v)
        np.testing.assert_allclose(obs[:, :, 0], (w / c[:, None]).astype(np.float32), rtol=0)
        np.testing.assert_allclose(obs[:, :, 1], (v / v.max(axis=1, keepdims=True)).astype(np.float32), rtol=0)
        assert env.observation_space.contains(obs)
        ws.append(w.ravel())
        vs.append(v.ravel())
        obs, *_ = env.step(env.action_space.sample())
    w, v = np.concatenate(ws), np.concatenate(vs)
    if R <= 37:  # every weight appears in 10 240 draws
        assert set(np.unique(w)) == set(range(1, R + 1))
    if kind == "uncorrelated":
        assert ((1 <= v) & (v <= R)).all()
        if R <= 37:
            assert set(np.unique(v)) == set(range(1, R + 1))
        if R > 1:
            assert abs(np.corrcoef(w, v)[0, 1]) < 0.1
    elif kind == "weakly_correlated":
        assert (v >= 1).all() and (np.abs(v - w) <= d).all()
        unclipped = w - d >= 1  # every offset in −d..d appears where no clipping can occur
        if R > 1:
            assert set(np.unique((v - w)[unclipped])) == set(range(-d, d + 1))
        else:  # w = 1, d = 1: v = max(1, U{0..2})
            assert set(np.unique(v)) == {1, 2}
    elif kind == "strongly_correlated":
        np.testing.assert_array_equal(v, w + d)
    else:
        np.testing.assert_array_equal(v, w)


@pytest.mark.parametrize("horizon", [1, 4])
def test_fresh_instance_each_step_and_episode_ends_after_horizon(horizon):
    env = KnapsackEnv(n=8, horizon=horizon)
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        seen = [obs]
        for k in range(1, horizon + 1):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            assert terminated == (k == horizon) and not truncated
            if not terminated:
                seen.append(obs)
        assert len({o.tobytes() for o in seen}) == len(seen) == horizon
        np.testing.assert_array_equal(obs, seen[-1])  # an ended episode shows its last instance


def test_check_env_and_seeding():
    for mode in MODES:
        check_env(KnapsackEnv(n=9, infeasible=mode), skip_render_check=True, skip_close_check=True)
    a, b = KnapsackEnv(n=9), KnapsackEnv(n=9)
    np.testing.assert_array_equal(a.reset(seed=5)[0], b.reset(seed=5)[0])
    assert not np.array_equal(a.reset(seed=5)[0], a.reset(seed=6)[0])


# ============================================================== vector env


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_vector_env_matches_single_envs(mode):
    """As tests/test_envs.py does for registered ids: environment ``i`` of the vector env seeded with
    ``s`` is the single env seeded with ``s + i``."""
    num, seed, steps = 3, 11, 25
    kwargs = dict(n=10, instance="weakly_correlated", infeasible="penalty", horizon=3)
    vec = KnapsackVectorEnv(num_envs=num, autoreset_mode=mode, **kwargs)
    lean = KnapsackVectorEnv(num_envs=num, autoreset_mode=mode, references=False, **kwargs)
    singles = [KnapsackEnv(**kwargs) for _ in range(num)]
    rng = np.random.default_rng(0)
    vobs, vinfo = vec.reset(seed=seed)
    lobs, linfo = lean.reset(seed=seed)
    assert "optimal_value" not in linfo
    np.testing.assert_array_equal(vobs, lobs)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=seed + i)
        np.testing.assert_array_equal(vobs[i], obs)
        assert vinfo["optimal_value"][i] == info["optimal_value"]
    resetting = [False] * num
    for _ in range(steps):
        actions = (rng.random((num, 10)) < 0.5).astype(np.int8)
        vobs, vrew, vterm, vtrunc, vinfo = vec.step(actions)
        lobs, lrew, *_ = lean.step(actions)
        np.testing.assert_array_equal(vobs, lobs)
        np.testing.assert_array_equal(vrew, lrew)
        for i, env in enumerate(singles):
            if resetting[i]:
                obs, info = env.reset()
                assert (vrew[i], vterm[i], vtrunc[i]) == (0.0, False, False)
                resetting[i] = False
            else:
                obs, rew, term, trunc, info = env.step(actions[i])
                assert vrew[i] == rew and (bool(vterm[i]), bool(vtrunc[i])) == (term, trunc)
                if term and mode == "same_step":
                    np.testing.assert_array_equal(vinfo["final_obs"][i], obs)
                    obs, info = env.reset()
                elif term:
                    resetting[i] = True
            np.testing.assert_array_equal(vobs[i], obs)
            assert vinfo["optimal_value"][i] == info["optimal_value"]


def test_gymnasium_make_vec_through_the_vector_entry_point():
    env_id = "standin/Knapsack-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point="standin.envs.knapsack:KnapsackEnv",
                     vector_entry_point="standin.envs.knapsack:KnapsackVectorEnv")
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", n=6)
    obs, info = vec.reset(seed=0)
    assert obs.shape == (2, 6, 2) and info["random_value"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((3, 6), dtype=np.int8))


# ============================================================== arguments


@pytest.mark.parametrize("kwargs, name", [
    ({"n": 1}, "n"),
    ({"n": 5000}, "n"),
    ({"n": 2.5}, "n"),
    ({"instance": "hard"}, "instance"),
    ({"weight_range": 0}, "weight_range"),
    ({"weight_range": 10**10}, "weight_range"),
    ({"capacity_ratio": 1.5}, "capacity_ratio"),
    ({"capacity_ratio": 1.0}, "capacity_ratio"),
    ({"capacity_ratio": 0}, "capacity_ratio"),
    ({"capacity_ratio": float("nan")}, "capacity_ratio"),
    ({"infeasible": "x"}, "infeasible"),
    ({"penalty": -1.0}, "penalty"),
    ({"horizon": 0}, "horizon"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"Knapsack-v0: {name} must"):
        KnapsackEnv(**kwargs)


def test_solver_functions_reject_bad_instances():
    with pytest.raises(ValueError, match="knapsack"):
        optimum([0, 1], [1, 1], 1)
    with pytest.raises(ValueError, match="knapsack"):
        lp_bound([1, 1], [1], 1)
