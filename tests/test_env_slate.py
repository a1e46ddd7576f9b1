"""Slate-v0 and its KOfN action space: the space's sampling, the Dinkelbach oracle against
enumeration, the landscape against a numpy recomputation and against simulated clicks, the
dynamics against a pure-Python twin, the common-random-number reference rollouts, and arguments."""

from __future__ import annotations

import copy
import itertools
import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import batch_space
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from standin.envs.slate import (
    REFILL,
    KOfN,
    SlateEnv,
    SlateVectorEnv,
    dinkelbach,
    policy_stream,
    random_slate,
    slate_delta,
    slate_init,
    slate_update,
    slate_value,
)
from standin.search.spaces import KOfN as SearchKOfN
from standin.search.spaces import as_space
from tests import naive

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)
ALPHA = 1e-6  # significance of the statistical checks (seeds are fixed, so they are deterministic)


def chi2_bound(df: int) -> float:
    return float(stats.chi2.ppf(1.0 - ALPHA, df))


def chi2_stat(counts, expected) -> float:
    counts, expected = np.asarray(counts, float), np.asarray(expected, float)
    return float(((counts - expected) ** 2 / expected).sum())


# ================================================================== the KOfN space


@st.composite
def spaces_and_masks(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(0, n))
    allowed = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    mask = np.array(allowed, dtype=np.int8)
    off = np.flatnonzero(mask == 0)
    mask[off[: max(0, k - int(mask.sum()))]] = 1  # allow at least k items
    return KOfN(n, k, seed=draw(st.integers(0, 2**32 - 1))), mask


@SETTINGS
@given(spaces_and_masks())
def test_kofn_samples_are_contained_and_respect_the_mask(space_mask):
    space, mask = space_mask
    for _ in range(5):
        x = space.sample()
        assert x.dtype == np.int8 and x.shape == (space.n,) and int(x.sum()) == space.k
        assert space.contains(x) and x in space
        y = space.sample(mask=mask)
        assert space.contains(y)
        assert not (y.astype(bool) & (mask == 0)).any()


@SETTINGS
@given(st.integers(1, 10).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), st.data())
def test_kofn_contains_rejects_wrong_counts_shapes_and_values(nk, data):
    n, k = nk
    space = KOfN(n, k)
    x = data.draw(st.lists(st.integers(-1, 2), min_size=n, max_size=n))
    a = np.array(x)
    want = bool(np.isin(a, (0, 1)).all() and a.sum() == k)
    assert space.contains(a) == want
    assert space.contains(x) == want  # a list is promoted, as MultiBinary does
    good = np.zeros(n, dtype=np.int8)
    good[:k] = 1
    assert space.contains(good)
    assert not space.contains(np.append(good, 0))  # wrong shape
    assert not space.contains(good.reshape(1, n))
    half = good.astype(np.float64)
    half[0] = 0.5
    assert not space.contains(half)  # wrong values
    if k < n:
        more = good.copy()
        more[k] = 1
        assert not space.contains(more)  # k + 1 ones
    if k > 0:
        assert not space.contains(good - np.eye(n, dtype=np.int8)[0])  # k − 1 ones


def test_kofn_mask_with_too_few_items_raises():
    space = KOfN(6, 3, seed=0)
    with pytest.raises(ValueError, match="fewer than k"):
        space.sample(mask=np.array([1, 1, 0, 0, 0, 0], dtype=np.int8))
    with pytest.raises(ValueError, match="mask"):
        space.sample(mask=np.array([2, 1, 1, 1, 0, 0], dtype=np.int8))
    with pytest.raises(ValueError, match="mask"):
        space.sample(mask=np.ones(5, dtype=np.int8))


@pytest.mark.parametrize("n, k, masked", [(6, 3, False), (5, 2, False), (7, 2, True)])
def test_kofn_samples_are_uniform_over_subsets(n, k, masked):
    space = KOfN(n, k, seed=123)
    mask = np.array([1, 0, 1, 1, 1, 0, 1], dtype=np.int8)[:n] if masked else np.ones(n, dtype=np.int8)
    subsets = [c for c in itertools.combinations(range(n), k) if all(mask[list(c)])]
    draws = 400 * len(subsets)
    counts = dict.fromkeys(subsets, 0)
    for _ in range(draws):
        x = space.sample(mask=mask) if masked else space.sample()
        counts[tuple(np.flatnonzero(x))] += 1
    assert chi2_stat(list(counts.values()), [draws / len(subsets)] * len(subsets)) < chi2_bound(len(subsets) - 1)


def test_kofn_repr_eq_pickle_copy_seed_and_search():
    space = KOfN(100, 5, seed=3)
    assert repr(space) == "KOfN(100, 5)" and str(space) == "KOfN(100, 5)"
    assert space == KOfN(100, 5) and space != KOfN(100, 4) and space != KOfN(99, 5)
    assert space != gym.spaces.MultiBinary(100) and gym.spaces.MultiBinary(100) != space
    for clone in (pickle.loads(pickle.dumps(space)), copy.deepcopy(space), copy.copy(space)):
        assert clone == space and clone.k == 5 and isinstance(clone, gym.spaces.MultiBinary)
    a, b = KOfN(30, 4, seed=9), pickle.loads(pickle.dumps(KOfN(30, 4, seed=9)))
    assert all(np.array_equal(a.sample(), b.sample()) for _ in range(5))
    batched = batch_space(space, 3)
    assert batched.shape == (3, 100) and batched.k == 5
    rows = batched.sample()
    assert batched.contains(rows) and all(space.contains(row) for row in rows)
    rows[0, :] = 0
    assert not batched.contains(rows)
    vec = gym.make_vec("standin/Slate-v0", num_envs=4, vectorization_mode="vector_entry_point", N=12, k=3)
    vec.reset(seed=0)
    vec.action_space.seed(0)
    vec.step(vec.action_space.sample())  # every row a valid slate
    assert as_space(space) == SearchKOfN(100, 5)
    with pytest.raises(ValueError, match="k must"):
        KOfN(4, 5)
    with pytest.raises(ValueError, match="n must"):
        KOfN(0, 0)


def test_random_reference_slates_are_uniform_and_have_k_items():
    n, k = 6, 2
    state = policy_stream(np.array([1, 2, 3, 4], dtype=np.uint64))
    subsets = list(itertools.combinations(range(n), k))
    counts = dict.fromkeys(subsets, 0)
    draws = 500 * len(subsets)
    for _ in range(draws):
        x = random_slate(state, n, k)
        assert int(x.sum()) == k
        counts[tuple(np.flatnonzero(x))] += 1
    assert chi2_stat(list(counts.values()), [draws / len(subsets)] * len(subsets)) < chi2_bound(len(subsets) - 1)


# ================================================================== Dinkelbach against enumeration


def enumerate_best(w, e, w0, k) -> float:
    """The slow twin: ``max over all C(N, k) slates of Σ w e / (w0 + Σ w)``."""
    combos = np.array(list(itertools.combinations(range(len(w)), k)))
    return float(((w[combos] * e[combos]).sum(axis=1) / (w0 + w[combos].sum(axis=1))).max())


@st.composite
def fractional_problems(draw):
    n, k = draw(st.sampled_from([(12, 4), (20, 3), (2, 1), (5, 2), (7, 6), (9, 5)]))
    if draw(st.booleans()):  # continuous values
        logw = draw(st.lists(st.floats(-6.0, 6.0), min_size=n, max_size=n))
        e = draw(st.lists(st.floats(0.0, 2.0), min_size=n, max_size=n))
    else:  # many ties
        logw = draw(st.lists(st.sampled_from([-1.0, 0.0, 2.0]), min_size=n, max_size=n))
        e = draw(st.lists(st.sampled_from([0.0, 0.5, 1.5, 2.0]), min_size=n, max_size=n))
    w0 = draw(st.sampled_from([1.0, 0.05, 30.0, math.exp(2.0)]))
    return np.exp(np.array(logw)), np.array(e), w0, k


@SETTINGS
@given(fractional_problems())
def test_dinkelbach_matches_enumeration(problem):
    w, e, w0, k = problem
    value, slate = dinkelbach(w, e, w0, k)
    best = enumerate_best(w, e, w0, k)
    assert slate.dtype == np.int8 and int(slate.sum()) == k and set(np.unique(slate)) <= {0, 1}
    s = slate.astype(bool)
    assert value == pytest.approx((w[s] * e[s]).sum() / (w0 + w[s].sum()), rel=1e-12, abs=1e-15)
    assert value == pytest.approx(best, rel=1e-9, abs=1e-12)


# ================================================================== the landscape


def expected_engagement(env, x) -> float:
    """The slow twin of the landscape, from the hidden state with the literal weights:
    ``Σ x w e / (w0 + Σ x w)``, ``w_i = exp((u[topic_i] + p_i)/τ)``, ``w0 = exp(1/τ)``."""
    c, tau = env.core, env.temperature
    u, topic, p = c.interest[0], c.topic[0], c.appeal[0]
    w = np.exp((u[topic] + p) / tau)
    e = (2.0 + p + u[topic]) / 2.0
    x = np.asarray(x, dtype=bool)
    return float((w[x] * e[x]).sum() / (math.exp(1.0 / tau) + w[x].sum()))


@pytest.mark.parametrize("kwargs", [dict(N=10, k=3, topics=3), dict(N=30, k=7, topics=1, temperature=2.0),
                                    dict(N=16, k=15, topics=5, temperature=0.1)])
def test_landscape_equals_expected_engagement_and_deltas_match(kwargs):
    env = SlateEnv(**kwargs)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    n = env.N
    for _ in range(3):
        land = env.landscape()
        assert land.m == n and land.aux_size == 2
        for _ in range(10):
            x = env.action_space.sample()
            assert land(x) == pytest.approx(expected_engagement(env, x), rel=1e-10)
        x = rng.integers(0, 2, size=n).astype(np.int8)  # deltas hold for any bit vector
        aux = np.zeros(2)
        slate_init(x, aux, land.params)
        assert aux[0] / aux[1] == pytest.approx(slate_value(x, land.params), rel=1e-12)
        for _ in range(40):
            i = int(rng.integers(n))
            j = int(rng.choice([-1, *[t for t in range(n) if t != i]]))
            want = slate_value(naive.flipped(x, i, j), land.params) - slate_value(x, land.params)
            assert slate_delta(x, aux, land.params, i, j) == pytest.approx(want, rel=1e-9, abs=1e-12)
            slate_update(x, aux, land.params, i, j)
            x = naive.flipped(x, i, j)
            fresh = np.zeros(2)
            slate_init(x, fresh, land.params)
            np.testing.assert_allclose(aux, fresh, rtol=1e-9, atol=1e-12)
        opt = env.optimal_action()
        assert env.action_space.contains(opt)
        combos = itertools.islice(itertools.combinations(range(n), env.k), 3000)
        best = max(expected_engagement(env, np.isin(np.arange(n), c)) for c in combos)
        assert expected_engagement(env, opt) >= best - 1e-12  # never beaten by (a sample of) the slates
        env.step(env.action_space.sample())


def copies(env, m: int):
    """A core of ``m`` environments in env's current state, with independent random streams."""
    core = env.make_core(m, references=False)
    src = env.core
    for name in ("topic", "quality", "appeal", "interest", "interest_obs", "budget", "steps"):
        getattr(core, name)[:] = getattr(src, name)[0]
    for i in range(m):
        core.seed(i, 10_000 + i)
    return core


def test_simulated_clicks_follow_the_logit_and_average_to_the_landscape():
    env = SlateEnv(N=8, k=3, topics=2, temperature=0.7)
    env.reset(seed=4)
    m = 40_000
    for slate in (env.optimal_action(), env.action_space.sample(), np.array([1, 1, 1, 0, 0, 0, 0, 0], np.int8)):
        core = copies(env, m)
        idx = np.arange(m, dtype=np.int64)
        reward, _, _ = core.step(np.tile(slate, (m, 1)), idx)
        mean, stderr = reward.mean(), reward.std(ddof=1) / math.sqrt(m)
        assert abs(mean - env.landscape()(slate)) < 5.0 * stderr
        # which item was clicked, from the engagement it paid (distinct per item)
        items = np.flatnonzero(slate)
        c = env.core
        u, topic = c.interest[0], c.topic[0]
        e = (2.0 + c.appeal[0] + u[topic]) / 2.0
        w = np.exp((u[topic] + c.appeal[0]) / env.temperature)
        probs = np.append(math.exp(1.0 / env.temperature), w[items]) / (math.exp(1.0 / env.temperature)
                                                                        + w[items].sum())
        counts = [np.sum(reward == 0.0)] + [np.sum(reward == e[i]) for i in items]
        assert sum(counts) == m
        assert chi2_stat(counts, m * probs) < chi2_bound(len(items))


# ================================================================== the dynamics against a Python twin


class Twin:
    """Slate-v0 written straight from its docstring, on Python floats and naive.Xoshiro256ss."""

    def __init__(self, env, state):
        self.N, self.k, self.T = env.N, env.k, env.topics
        self.tau, self.drift, self.budget0 = env.temperature, env.drift, env.budget
        self.noise, self.horizon = env.obs_noise, env.horizon
        self.g = naive.Xoshiro256ss(state)

    def normal(self) -> float:
        u1 = 1.0 - self.g.uniform()
        u2 = self.g.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def fresh(self):
        self.items = []
        for _ in range(self.N):
            topic = self.g.randint(self.T)
            q = 2.0 * self.g.uniform() - 1.0
            self.items.append((topic, q, self.g.uniform()))
        self.u_obs = [ut + self.noise * self.normal() for ut in self.u]

    def reset(self):
        self.u = [2.0 * self.g.uniform() - 1.0 for _ in range(self.T)]
        self.B, self.t = self.budget0, 0
        self.fresh()

    def step(self, slate):
        chosen = [i for i in range(self.N) if slate[i]]
        w0 = math.exp(1.0 / self.tau)
        w = [math.exp((self.u[self.items[i][0]] + self.items[i][2]) / self.tau) for i in chosen]
        r = self.g.uniform() * (w0 + sum(w))
        click, acc = None, w0
        if r >= w0:
            for i, wi in zip(chosen, w, strict=True):
                acc += wi
                click = i
                if r < acc:
                    break
        reward = 0.0
        self.B -= 1.0
        if click is not None:
            topic, q, p = self.items[click]
            reward = (2.0 + p + self.u[topic]) / 2.0
            self.u = [(1.0 - self.drift) * ut + self.drift * (t == topic) for t, ut in enumerate(self.u)]
            self.B += REFILL * q
        self.t += 1
        terminated = self.B <= 0.0
        truncated = self.t >= self.horizon and not terminated
        self.fresh()
        return reward, terminated, truncated

    def flat_obs(self) -> np.ndarray:
        """The numbers of an observation in their original flat order: per item its one-hot topic,
        ``q``, ``p``; then the noisy interest, ``B / budget``, ``t / horizon``."""
        out = []
        for topic, q, p in self.items:
            out += [float(t == topic) for t in range(self.T)] + [q, p]
        return np.array(out + self.u_obs + [self.B / self.budget0, self.t / self.horizon], dtype=np.float32)

    def obs(self) -> np.ndarray:
        """The item-structured observation: row ``i`` is item ``i``'s ``T + 2`` own columns, then the
        ``T + 2`` global ones (the same on every row), rearranged from :meth:`flat_obs`."""
        flat, N, own = self.flat_obs(), self.N, self.T + 2
        items = flat[: N * own].reshape(N, own)
        shared = np.broadcast_to(flat[N * own :], (N, self.T + 2))
        return np.concatenate([items, shared], axis=1)


@pytest.mark.parametrize("kwargs", [dict(N=6, k=2, topics=3, budget=4.0, horizon=30),
                                    dict(N=9, k=4, topics=1, drift=0.5, temperature=0.2, obs_noise=0.0),
                                    dict(N=5, k=1, topics=4, horizon=7, drift=1.0)])
def test_reset_and_step_match_the_python_twin(kwargs):
    env = SlateEnv(**kwargs)
    core = env.make_core(1, references=False)
    core.seed(0, 77)
    twin = Twin(env, core.rng[0].copy())
    idx = np.zeros(1, dtype=np.int64)
    space = KOfN(env.N, env.k, seed=5)
    clicks = 0
    with np.errstate(over="ignore"):
        for _episode in range(3):
            core.reset(idx)
            twin.reset()
            for _ in range(40):
                obs = core.observe(idx)[0]
                assert obs.shape == (env.N, 2 * env.topics + 4)
                np.testing.assert_allclose(obs, twin.obs(), rtol=1e-6, atol=1e-6)
                assert env.observation_space.contains(obs)
                np.testing.assert_allclose(core.interest[0], twin.u, rtol=1e-12, atol=1e-12)
                slate = space.sample()
                reward, terminated, truncated = core.step(slate[None], idx)
                want = twin.step(slate)
                clicks += want[0] > 0
                assert reward[0] == pytest.approx(want[0], rel=1e-12, abs=1e-12)
                assert (bool(terminated[0]), bool(truncated[0])) == want[1:]
                assert core.budget[0] == pytest.approx(twin.B, rel=1e-12, abs=1e-12)
                if want[1] or want[2]:
                    break
    assert clicks > 0


def test_budget_drains_with_clickbait_and_refills_with_quality():
    env = SlateEnv(N=6, k=2, topics=2, temperature=0.2, drift=0.25, budget=10.0)
    env.reset(seed=0)
    c = env.core
    c.interest[0] = [1.0, -0.5]
    c.topic[0] = 0
    c.appeal[0] = 1.0  # irresistible: w / w0 = exp((1 + 1 − 1)/0.2) = e^5 per item
    c.budget[0] = 10.0
    slate = np.array([1, 1, 0, 0, 0, 0], dtype=np.int8)
    m = 2000
    for quality, change in ((-1.0, -1.0 - REFILL), (1.0, -1.0 + REFILL)):
        c.quality[0] = quality
        core = copies(env, m)
        idx = np.arange(m, dtype=np.int64)
        reward, terminated, _ = core.step(np.tile(slate, (m, 1)), idx)
        clicked = reward > 0
        assert clicked.mean() > 0.95  # P(no click) = 1 / (1 + 2 e^5)
        np.testing.assert_allclose(reward[clicked], (2.0 + 1.0 + 1.0) / 2.0)  # appeal 1, interest 1
        np.testing.assert_allclose(core.budget[clicked], 10.0 + change)
        np.testing.assert_allclose(core.budget[~clicked], 9.0)
        np.testing.assert_allclose(core.interest[clicked], [[0.75 * 1.0 + 0.25, 0.75 * -0.5]] * int(clicked.sum()))
        np.testing.assert_allclose(core.interest[~clicked], [[1.0, -0.5]] * int((~clicked).sum()))
        assert not terminated.any()
    # clickbait ends the episode: from B = 1 a click with q = −1 leaves B = −1.5
    c.quality[0], c.budget[0] = -1.0, 1.0
    core = copies(env, 50)
    _, terminated, truncated = core.step(np.tile(slate, (50, 1)), np.arange(50, dtype=np.int64))
    assert terminated.all() and not truncated.any()


# ================================================================== references


@pytest.mark.parametrize("kwargs, seed", [(dict(N=12, k=3, topics=4, horizon=60, budget=5.0), 0),
                                          (dict(N=40, k=5), 1), (dict(N=20, k=19, topics=2, budget=2.0), 2),
                                          (dict(N=8, k=2, topics=3, budget=1.0, temperature=3.0), 3)])
def test_reference_rollouts_replay_the_env_with_common_random_numbers(kwargs, seed):
    for policy in ("oracle", "random"):
        env = SlateEnv(**kwargs)
        _, info = env.reset(seed=seed)
        stream = policy_stream(env.core.rng[0].copy())
        total, steps = 0.0, 0
        while True:
            action = env.optimal_action() if policy == "oracle" else random_slate(stream, env.N, env.k)
            _, reward, terminated, truncated, later = env.step(action)
            assert later == {"optimal_value": 0.0, "random_value": 0.0}
            total += reward
            steps += 1
            if terminated or truncated:
                break
        assert total == info[f"{policy if policy == 'random' else 'optimal'}_value"]
        assert steps <= env.horizon


def test_references_only_at_reset_and_only_when_asked():
    env = SlateEnv(N=10, k=2)
    _, info = env.reset(seed=3)
    assert set(info) == {"optimal_value", "random_value"}
    assert info["optimal_value"] > info["random_value"] > 0.0
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info == {"optimal_value": 0.0, "random_value": 0.0}
    vec = SlateVectorEnv(num_envs=4, N=10, k=2, references=False)
    _, info = vec.reset(seed=0)
    assert "optimal_value" not in info
    vec = SlateVectorEnv(num_envs=4, N=10, k=2)
    _, info = vec.reset(seed=3)
    assert info["optimal_value"][0] == SlateEnv(N=10, k=2).reset(seed=3)[1]["optimal_value"]
    assert (info["optimal_value"] != 0.0).all()
    assert env.reference.per == "episode" and not env.reference.high_is_optimum


# ================================================================== env plumbing


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_vector_env_matches_single_envs(mode):
    kwargs = dict(N=10, k=3, topics=3, budget=3.0, horizon=12)
    num, seed = 3, 11
    vec = SlateVectorEnv(num_envs=num, autoreset_mode=mode, **kwargs)
    singles = [SlateEnv(**kwargs) for _ in range(num)]
    space = KOfN(10, 3, seed=1)
    vobs, vinfo = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=seed + i)
        assert np.array_equal(vobs[i], obs) and vinfo["optimal_value"][i] == info["optimal_value"]
    resetting = [False] * num
    for _ in range(40):
        actions = np.stack([space.sample() for _ in range(num)])
        vobs, vrew, vterm, vtrunc, vinfo = vec.step(actions)
        for i, env in enumerate(singles):
            if resetting[i]:
                obs, info = env.reset()
                resetting[i] = False
                assert vrew[i] == 0.0
            else:
                obs, rew, term, trunc, info = env.step(actions[i])
                assert (vrew[i], bool(vterm[i]), bool(vtrunc[i])) == (rew, term, trunc)
                if (term or trunc) and mode == "same_step":
                    assert np.array_equal(vinfo["final_obs"][i], obs)
                    obs, info = env.reset()
                elif term or trunc:
                    resetting[i] = True
            assert np.array_equal(vobs[i], obs)
            assert vinfo["optimal_value"][i] == info["optimal_value"]
            assert vinfo["random_value"][i] == info["random_value"]


def test_spaces_horizon_and_check_env():
    from gymnasium.utils.env_checker import check_env

    env = SlateEnv(N=7, k=2, topics=3, horizon=4, budget=100.0)
    assert env.action_space == KOfN(7, 2)
    assert env.observation_space.shape == (7, 3 + 2 + 3 + 2)  # one row per item: own columns, then global ones
    assert env.item_global_features == 3 + 2
    with pytest.warns(UserWarning, match="infinity"):  # the noisy interest is unbounded
        check_env(env, skip_render_check=True, skip_close_check=True)
    env.reset(seed=0)
    for t in range(1, 5):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated and truncated == (t == 4)
        assert obs.shape == (7, 10) and (obs[:, -1] == np.float32(t / 4)).all()  # t / horizon, on every row
    env.reset(seed=1)
    with pytest.raises(ValueError, match="not in"):
        env.step(np.array([1, 1, 1, 0, 0, 0, 0], dtype=np.int8))
    assert SlateEnv.size_kwargs == ("N", "k") and SlateEnv.landscape_kind == "oracle"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"N": 1}, "N"), ({"N": 4097}, "N"), ({"N": 10.0}, "N"),
        ({"k": 0}, "k"), ({"N": 10, "k": 10}, "k"), ({"k": True}, "k"),
        ({"topics": 0}, "topics"), ({"horizon": 0}, "horizon"),
        ({"temperature": 0.0}, "temperature"), ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"drift": -0.1}, "drift"), ({"drift": 1.5}, "drift"),
        ({"budget": 0.0}, "budget"), ({"budget": float("inf")}, "budget"),
        ({"obs_noise": -0.1}, "obs_noise"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=rf"Slate-v0: {name} must"):
        SlateEnv(**kwargs)


def test_a_long_horizon_policy_beats_the_myopic_reference():
    """The regime Slate-v0 is for: the myopic oracle (the 1.0 end) ignores quality and drains the
    user's budget, so a policy that also weighs quality (the same exact rule on ``e_i + q_i / 2``)
    keeps the user longer and scores well above 1.0."""
    from standin.envs.slate import dinkelbach, state_weights

    env = SlateEnv()
    u = env.unwrapped
    returns, references, lengths = [], [], []
    for episode in range(8):
        _, info = env.reset(seed=500 + episode)
        references.append(info["optimal_value"])
        total, steps, done = 0.0, 0, False
        while not done:
            c = u.core
            w, e = state_weights(c.interest[0], c.topic[0], c.quality[0], c.appeal[0], u.temperature)
            _, slate = dinkelbach(w, e + 0.5 * c.quality[0], 1.0, u.k)
            _, reward, terminated, truncated, _ = env.step(slate)
            total, steps, done = total + reward, steps + 1, terminated or truncated
        returns.append(total)
        lengths.append(steps)
    assert np.mean(returns) > 2.0 * np.mean(references)
    assert np.mean(lengths) > 0.8 * u.horizon
