"""Swarm-v0: BFS, collision resolution, masks, observations and rewards against slow readable twins
written here from the spec; hand-computed tiny cases; references, landscape and argument checks."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standin.envs.swarm import SwarmEnv, SwarmVectorEnv, goal_distances, resolve_moves
from standin.search.spaces import Discrete

# The documented convention: a cell is (x, y), x the column, y the row; flat index y * G + x.
DELTA = {0: (0, 0), 1: (0, -1), 2: (0, 1), 3: (-1, 0), 4: (1, 0)}  # move -> (dx, dy)


def cell(x, y, G):
    return y * G + x


def xy(c, G):
    return int(c) % G, int(c) // G


# ------------------------------------------------------------------------------ slow twins


def py_bfs(free, goal):
    """Distances from ``goal`` (x, y) over the free cells of ``free[y][x]``; None where unreachable."""
    G = len(free)
    dist = [[None] * G for _ in range(G)]
    dist[goal[1]][goal[0]] = 0
    queue = deque([goal])
    while queue:
        x, y = queue.popleft()
        for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            nx, ny = x + dx, y + dy
            if 0 <= nx < G and 0 <= ny < G and free[ny][nx] and dist[ny][nx] is None:
                dist[ny][nx] = dist[y][x] + 1
                queue.append((nx, ny))
    return dist


def py_target(free, p, move):
    """Where ``move`` takes an agent at (x, y) ``p``: into a wall or off the grid means stay."""
    G = len(free)
    dx, dy = DELTA[int(move)]
    x, y = p[0] + dx, p[1] + dy
    if 0 <= x < G and 0 <= y < G and free[y][x]:
        return (x, y)
    return p


def py_resolve(pos, target):
    """Collision resolution, literally: rounds of pairwise checks, all cancellations of a round at once."""
    pos, target = list(pos), list(target)
    cancelled = [False] * len(pos)
    while True:
        hit = set()
        for a in range(len(pos)):
            for b in range(len(pos)):
                if a == b:
                    continue
                if target[a] == target[b]:  # same cell: every one of the two that moves is cancelled
                    hit |= {c for c in (a, b) if target[c] != pos[c]}
                if target[a] == pos[b] and target[b] == pos[a]:  # a swap
                    hit |= {a, b}
        if not hit:
            return target, cancelled
        for a in hit:
            target[a] = pos[a]
            cancelled[a] = True


def py_step(free, pos, goal, action, penalty):
    """New positions and reward of one step, from the spec."""
    N = len(pos)
    target = [py_target(free, pos[a], action[a]) for a in range(N)]
    new, cancelled = py_resolve(pos, target)
    off = sum(new[a] != goal[a] for a in range(N))
    return new, -off / N - penalty * sum(cancelled) / N


def state(env, i=0):
    """(free[y][x] as lists, positions, goals as (x, y)) of the env's core environment ``i``."""
    core, G = env.core, env.G
    free = core.free[i].reshape(G, G).astype(bool).tolist()
    return free, [xy(c, G) for c in core.pos[i]], [xy(c, G) for c in core.goal[i]]


def set_state(env, free, starts, goals):
    """Put the env at the start of an episode on a hand-made instance (cells as (x, y))."""
    G = env.G
    env.core.set_state(0, np.asarray(free), [cell(*p, G) for p in starts], [cell(*p, G) for p in goals])
    env._needs_reset = False


def open_grid(G):
    return np.ones((G, G), dtype=bool)


def rollout(env, policy, seed):
    """The return of one episode and its reset info."""
    _, info = env.reset(seed=seed)
    first = info
    total = 0.0
    while True:
        _, r, term, trunc, info = env.step(policy(env, info))
        total += r
        if term or trunc:
            return total, first


# ------------------------------------------------------------------------------------ BFS


@settings(max_examples=30, deadline=None)
@given(st.integers(4, 7).flatmap(lambda G: st.tuples(
    st.just(G), st.lists(st.booleans(), min_size=G * G, max_size=G * G), st.integers(0, 10**6))))
def test_bfs_distances_match_python_bfs(case):
    G, bits, seed = case
    free = np.array(bits, dtype=np.int8)
    free[0] = 1
    cells = np.flatnonzero(free)
    goals = np.random.default_rng(seed).choice(cells, size=min(3, len(cells)), replace=False).astype(np.int64)
    dist = goal_distances(free, G, goals)
    for k, g in enumerate(goals):
        want = py_bfs(free.reshape(G, G).tolist(), xy(g, G))
        for c in range(G * G):
            x, y = xy(c, G)
            if want[y][x] is None:
                assert dist[k, c] >= 1 << 20  # walls and cut-off cells: the large sentinel
            else:
                assert dist[k, c] == want[y][x]


@pytest.mark.parametrize("N, G, density", [(8, 16, 0.15), (3, 6, 0.4), (2, 4, 0.0), (5, 9, 0.5)])
def test_reset_draws_a_connected_grid_with_valid_starts_goals_and_distances(N, G, density):
    env = SwarmEnv(N=N, G=G, obstacle_density=density)
    walls = 0
    for seed in range(5):
        env.reset(seed=seed)
        free, pos, goal = state(env)
        free_cells = [(x, y) for y in range(G) for x in range(G) if free[y][x]]
        walls += G * G - len(free_cells)
        assert len(free_cells) >= 2 * N
        reach = py_bfs(free, free_cells[0])
        assert all(reach[y][x] is not None for x, y in free_cells)  # one component
        assert len(set(pos)) == N and len(set(goal)) == N
        assert all(free[y][x] for x, y in pos + goal)
        assert all(p != g for p, g in zip(pos, goal, strict=True))
        for k in range(N):
            want = py_bfs(free, goal[k])
            got = env.core.dist[0, k].reshape(G, G)
            for x, y in free_cells:
                assert got[y, x] == want[y][x]
    assert (walls == 0) == (density == 0.0)


def test_impossible_grids_raise_a_runtime_error_naming_the_arguments():
    env = SwarmEnv(N=18, G=6, obstacle_density=0.5)  # needs all 36 cells free: chance 2^-36 per draw
    with pytest.raises(RuntimeError, match="obstacle_density=0.5"):
        env.reset(seed=0)


# -------------------------------------------------------------------------------- collisions


@st.composite
def configurations(draw):
    G = draw(st.integers(2, 4))
    N = draw(st.integers(2, min(6, G * G)))
    cells = draw(st.permutations(range(G * G)))[:N]
    moves = draw(st.lists(st.integers(0, 4), min_size=N, max_size=N))
    return G, [xy(c, G) for c in cells], moves


@settings(max_examples=60, deadline=None)
@given(configurations())
def test_collision_resolution_matches_the_slow_twin(config):
    G, pos, moves = config
    free = [[True] * G for _ in range(G)]
    target = [py_target(free, p, m) for p, m in zip(pos, moves, strict=True)]
    want, want_cancelled = py_resolve(pos, target)
    flat = lambda ps: np.array([cell(*p, G) for p in ps], dtype=np.int64)  # noqa: E731
    got, cancelled = resolve_moves(flat(pos), flat(target), G * G)
    assert got.tolist() == flat(want).tolist()
    assert cancelled.tolist() == want_cancelled
    assert len(set(got.tolist())) == len(pos)  # never two agents in one cell
    for a in range(len(pos)):
        for b in range(len(pos)):
            assert not (a != b and want[a] == pos[b] and want[b] == pos[a] and want[a] != pos[a])  # no swaps


@pytest.mark.parametrize("N, G, density", [(8, 6, 0.2), (4, 4, 0.0), (12, 8, 0.3)])
def test_steps_match_the_slow_twin_on_crowded_random_rollouts(N, G, density):
    penalty = 0.3
    env = SwarmEnv(N=N, G=G, obstacle_density=density, horizon=20, collision_penalty=penalty)
    rng = np.random.default_rng(N)
    cancels = 0
    for seed in range(4):
        env.reset(seed=seed)
        done = False
        while not done:
            free, pos, goal = state(env)
            action = rng.integers(0, 5, size=N)
            want_pos, want_r = py_step(free, pos, goal, action, penalty)
            _, r, term, trunc, _ = env.step(action)
            assert state(env)[1] == want_pos
            assert r == pytest.approx(want_r, abs=1e-12)
            assert term == all(p == g for p, g in zip(want_pos, goal, strict=True))
            cancels += r < -sum(p != g for p, g in zip(want_pos, goal, strict=True)) / N - 1e-12
            done = term or trunc
    assert cancels > 0  # the rollouts did exercise collisions


# ------------------------------------------------------------------- hand-computed tiny cases


def test_two_agents_swapping_are_both_cancelled():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, collision_penalty=0.1)
    set_state(env, open_grid(4), [(1, 0), (2, 0)], [(3, 3), (0, 3)])
    _, r, term, trunc, _ = env.step([4, 3])  # right, left: a swap
    assert state(env)[1] == [(1, 0), (2, 0)]
    assert r == pytest.approx(-2 / 2 - 0.1 * 2 / 2)
    assert not term and not trunc


def test_two_agents_into_one_cell_are_both_cancelled_even_onto_a_goal():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, collision_penalty=0.1)
    set_state(env, open_grid(4), [(0, 0), (2, 0)], [(1, 0), (3, 3)])
    _, r, *_ = env.step([4, 3])  # both into (1, 0), agent 0's goal
    assert state(env)[1] == [(0, 0), (2, 0)]
    assert r == pytest.approx(-1.0 - 0.1)


def test_moving_into_a_staying_agent_cancels_only_the_mover():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, collision_penalty=0.1)
    set_state(env, open_grid(4), [(0, 0), (1, 0)], [(3, 3), (1, 1)])
    _, r, *_ = env.step([4, 0])
    assert state(env)[1] == [(0, 0), (1, 0)]
    assert r == pytest.approx(-1.0 - 0.1 * 1 / 2)


def test_a_cascade_of_three_cancellations():
    # A (0,0) -> (1,0) where B stands; B (1,0) -> (2,0); C (3,0) -> (2,0). Round 1 cancels B and C
    # (same cell); B now stays at (1,0), so round 2 cancels A.
    env = SwarmEnv(N=3, G=4, obstacle_density=0.0, collision_penalty=0.5)
    set_state(env, open_grid(4), [(0, 0), (1, 0), (3, 0)], [(0, 3), (1, 3), (2, 3)])
    _, r, *_ = env.step([4, 4, 3])
    assert state(env)[1] == [(0, 0), (1, 0), (3, 0)]
    assert r == pytest.approx(-3 / 3 - 0.5 * 3 / 3)


def test_following_and_rotating_are_allowed():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, collision_penalty=0.1)
    set_state(env, open_grid(4), [(0, 0), (1, 0)], [(3, 3), (2, 0)])
    _, r, *_ = env.step([4, 4])  # A follows B, B arrives at its goal
    assert state(env)[1] == [(1, 0), (2, 0)]
    assert r == pytest.approx(-1 / 2)

    env = SwarmEnv(N=4, G=4, obstacle_density=0.0, collision_penalty=0.1)
    ring = [(0, 0), (1, 0), (1, 1), (0, 1)]
    set_state(env, open_grid(4), ring, [(3, 3), (3, 2), (3, 1), (3, 0)])
    _, r, *_ = env.step([4, 2, 3, 1])  # right, down, left, up: a clockwise rotation
    assert state(env)[1] == ring[1:] + ring[:1]
    assert r == pytest.approx(-1.0)


def test_masked_moves_act_as_stay_without_penalty():
    free = open_grid(4)
    free[1, 0] = False  # a wall at (x=0, y=1)
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, collision_penalty=0.5)
    set_state(env, free, [(0, 0), (3, 3)], [(3, 0), (0, 3)])
    _, r, _, _, info = env.step([2, 4])  # down into the wall; right off the grid
    assert state(env)[1] == [(0, 0), (3, 3)]
    assert r == pytest.approx(-1.0)
    np.testing.assert_array_equal(info["action_mask"][0], [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(info["action_mask"][1], [1, 1, 0, 1, 0])


def test_terminated_when_every_agent_reaches_its_goal():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, horizon=10)
    set_state(env, open_grid(4), [(0, 0), (3, 3)], [(1, 0), (3, 1)])
    _, r, term, trunc, _ = env.step([4, 1])  # agent 0 arrives, agent 1 is one short
    assert (r, term, trunc) == (pytest.approx(-1 / 2), False, False)
    _, r, term, trunc, _ = env.step([0, 1])
    assert (r, term, trunc) == (0.0, True, False)
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0, 0])


def test_truncated_at_the_horizon():
    env = SwarmEnv(N=2, G=8, horizon=3)
    env.reset(seed=0)
    flags = [env.step([0, 0])[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


# ---------------------------------------------------------------------- masks and observations


@pytest.mark.parametrize("N, G, density", [(8, 16, 0.3), (6, 5, 0.2)])
def test_masks_and_observations_match_the_spec(N, G, density):
    env = SwarmEnv(N=N, G=G, obstacle_density=density)
    rng = np.random.default_rng(1)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        for _ in range(5):
            free, pos, goal = state(env)
            assert info["action_mask"].dtype == np.int8 and info["action_mask"].shape == (N, 5)
            assert obs.shape == (N, 9)  # item-structured: one row per agent
            feats = obs
            for a in range(N):
                dist = py_bfs(free, goal[a])
                d = dist[pos[a][1]][pos[a][0]]
                want = [pos[a][0] / G, pos[a][1] / G, goal[a][0] / G, goal[a][1] / G, d / (2 * G)]
                for move in range(1, 5):
                    dx, dy = DELTA[move]
                    x, y = pos[a][0] + dx, pos[a][1] + dy
                    ok = 0 <= x < G and 0 <= y < G and free[y][x]
                    assert info["action_mask"][a, move] == ok
                    want.append(dist[y][x] - d if ok else 2)
                assert info["action_mask"][a, 0] == 1
                np.testing.assert_allclose(feats[a], np.array(want, dtype=np.float32), rtol=0, atol=0)
            assert env.observation_space.contains(obs)
            obs, _, term, trunc, info = env.step(rng.integers(0, 5, size=N))
            if term or trunc:
                break


# ------------------------------------------------------------------------------- references


def shortest(env, info):
    return env.shortest_path_action()


def random_policy(rng):
    return lambda env, info: rng.integers(0, 5, size=env.N)


def test_shortest_path_action_follows_distances_with_ties_in_move_order():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0)
    set_state(env, open_grid(4), [(0, 0), (3, 3)], [(2, 2), (3, 2)])
    assert env.shortest_path_action().tolist() == [2, 1]  # down before right; up
    for seed in range(3):
        env = SwarmEnv(N=6, G=8, obstacle_density=0.3)
        env.reset(seed=seed)
        free, pos, goal = state(env)
        for a, move in enumerate(env.shortest_path_action()):
            dist = py_bfs(free, goal[a])
            d = lambda p, dist=dist: dist[p[1]][p[0]]  # noqa: E731
            better = [m for m in range(1, 5) if d(py_target(free, pos[a], m)) == d(pos[a]) - 1]
            assert move == (better[0] if better else 0)


@pytest.mark.parametrize("N, G, density, horizon", [(8, 16, 0.15, 64), (8, 6, 0.2, 12), (12, 8, 0.3, 30)])
def test_relaxation_bound_is_above_shortest_path_and_random_returns(N, G, density, horizon):
    env = SwarmEnv(N=N, G=G, obstacle_density=density, horizon=horizon, collision_penalty=0.2)
    rng = np.random.default_rng(0)
    below = 0
    for seed in range(6):
        ret, info = rollout(env, shortest, seed)
        free, pos, goal = state(env)
        assert ret <= info["optimal_value"] + 1e-9
        below += ret < info["optimal_value"] - 1e-9
        ret, info = rollout(env, random_policy(rng), seed)
        assert ret <= info["optimal_value"] + 1e-9
        assert info["random_value"] == -horizon  # every agent starts off its goal
    if G <= 8:
        assert below > 0  # crowded grids: the relaxation is not attained


def test_relaxation_bound_from_its_definition():
    env = SwarmEnv(N=3, G=8, obstacle_density=0.25, horizon=7)
    for seed in range(4):
        _, info = env.reset(seed=seed)
        free, pos, goal = state(env)
        d = [py_bfs(free, goal[a])[pos[a][1]][pos[a][0]] for a in range(3)]
        steps = min(max(d), 7)  # the relaxed episode: until the last agent arrives, or the horizon
        off = sum(sum(1 for a in range(3) if t < d[a]) for t in range(1, steps + 1))
        assert info["optimal_value"] == pytest.approx(-off / 3)


@pytest.mark.parametrize("horizon, d1, want", [(10, 3, -2.0), (4, 6, -3.0)])
def test_relaxation_bound_is_attained_by_agents_that_cannot_meet(horizon, d1, want):
    # by hand: agent 0 needs 3 steps along row 0, agent 1 needs d1 up column 7; a step costs (agents off)/2.
    # horizon 10, d1 3: steps 1, 2 cost 1 each, step 3 ends it. horizon 4, d1 6: 1 + 1 + 1/2 + 1/2.
    env = SwarmEnv(N=2, G=8, obstacle_density=0.0, horizon=horizon)
    set_state(env, open_grid(8), [(0, 0), (7, 7)], [(3, 0), (7, 7 - d1)])
    assert env.core.info(np.zeros(1, np.int64))["optimal_value"][0] == pytest.approx(want)
    total = 0.0
    while True:
        _, r, term, trunc, _ = env.step(env.shortest_path_action())
        total += r
        if term or trunc:
            break
    assert total == pytest.approx(want)
    assert (term, trunc) == ((True, False) if d1 <= horizon else (False, True))


def test_staying_put_scores_exactly_the_low_reference_and_references_are_per_episode():
    env = SwarmEnv(N=4, G=8, horizon=5)
    ret, info = rollout(env, lambda env, info: np.zeros(env.N, dtype=np.int64), 3)
    assert ret == info["random_value"] == -5.0
    env.reset(seed=3)
    _, _, _, _, later = env.step(np.zeros(4, dtype=np.int64))
    assert later["optimal_value"] == 0.0 and later["random_value"] == 0.0
    vec = SwarmVectorEnv(num_envs=2, N=4, G=8, references=False)
    _, info = vec.reset(seed=0)
    assert "optimal_value" not in info and "action_mask" in info


# -------------------------------------------------------------------------------- landscape


def direct_h(free, pos, goal, action, penalty):
    N = len(pos)
    nxt = [py_target(free, pos[a], action[a]) for a in range(N)]
    value = 0.0
    for a in range(N):
        value -= (nxt[a] != goal[a]) + py_bfs(free, goal[a])[nxt[a][1]][nxt[a][0]]
    pairs = sum(1 for a in range(N) for b in range(a + 1, N)
                if nxt[a] == nxt[b] or (nxt[a] == pos[b] and nxt[b] == pos[a]))
    return value / N - penalty / N * 2 * pairs, pairs


@pytest.mark.parametrize("N, G, density, penalty", [(6, 4, 0.0, 0.3), (8, 6, 0.2, 0.1), (5, 8, 0.3, 0.0)])
def test_landscape_equals_a_direct_evaluation_of_h(N, G, density, penalty):
    env = SwarmEnv(N=N, G=G, obstacle_density=density, collision_penalty=penalty)
    space = Discrete((5,) * N)
    rng = np.random.default_rng(2)
    pairs_seen = 0
    for seed in range(3):
        env.reset(seed=seed)
        free, pos, goal = state(env)
        land = env.landscape()
        assert env.landscape_kind == "heuristic" and land.m == 5 * N
        for _ in range(40):
            action = rng.integers(0, 5, size=N)
            want, pairs = direct_h(free, pos, goal, action, penalty)
            pairs_seen += pairs
            assert land(space.encode(action)) == pytest.approx(want, abs=1e-12)
    assert pairs_seen > 0


def test_landscape_counts_a_swap_once():
    env = SwarmEnv(N=2, G=4, obstacle_density=0.0, collision_penalty=0.5)
    set_state(env, open_grid(4), [(1, 0), (2, 0)], [(3, 0), (0, 0)])
    x = Discrete((5, 5)).encode(np.array([4, 3]))
    # next = (2,0), (1,0): both off goal, distances 1 and 1; one conflicting pair
    assert env.landscape()(x) == pytest.approx(-(1 + 1 + 1 + 1) / 2 - 0.5 / 2 * 2 * 1)


# ------------------------------------------------------------------- vector env and arguments


def test_vector_env_matches_single_envs():
    num, seed = 3, 5
    kwargs = dict(N=4, G=6, obstacle_density=0.2, horizon=6)
    vec = SwarmVectorEnv(num_envs=num, **kwargs)
    singles = [SwarmEnv(**kwargs) for _ in range(num)]
    vobs, vinfo = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=seed + i)
        np.testing.assert_array_equal(vobs[i], obs)
        assert vinfo["optimal_value"][i] == info["optimal_value"]
    rng = np.random.default_rng(0)
    pending = [False] * num
    for _ in range(20):
        actions = rng.integers(0, 5, size=(num, 4))
        vobs, vrew, vterm, vtrunc, vinfo = vec.step(actions)
        for i, env in enumerate(singles):
            if pending[i]:
                obs, info = env.reset()
                pending[i] = False
            else:
                obs, r, term, trunc, info = env.step(actions[i])
                assert (vrew[i], vterm[i], vtrunc[i]) == (r, term, trunc)
                pending[i] = term or trunc
            np.testing.assert_array_equal(vobs[i], obs)
            np.testing.assert_array_equal(vinfo["action_mask"][i], info["action_mask"])
            assert vinfo["optimal_value"][i] == info["optimal_value"]


def test_largest_arguments_work():
    env = SwarmEnv(N=64, G=128, obstacle_density=0.3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 9) and env.observation_space.contains(obs)
    obs, *_ = env.step(env.shortest_path_action())
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"N": 1}, "N"),
        ({"N": 65}, "N"),
        ({"N": 2.0}, "N"),
        ({"G": 3}, "G"),
        ({"G": 129}, "G"),
        ({"N": 9, "G": 4}, "N"),
        ({"obstacle_density": -0.1}, "obstacle_density"),
        ({"obstacle_density": 0.6}, "obstacle_density"),
        ({"obstacle_density": float("nan")}, "obstacle_density"),
        ({"horizon": 0}, "horizon"),
        ({"collision_penalty": -1}, "collision_penalty"),
        ({"collision_penalty": float("inf")}, "collision_penalty"),
    ],
)
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=f"Swarm-v0: {name} "):
        SwarmEnv(**kwargs)
