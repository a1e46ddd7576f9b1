"""A swarm of agents on a grid with obstacles: joint moves of ``N`` agents, ``5^N`` actions."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from standin.envs._core import Core, CoreEnv, CoreVectorEnv, check_bool, check_float, check_int
from standin.envs.reference import Reference
from standin.search import Quadratic
from standin.search.jit import jitable, njit, randint, uniform

MAX_N = 64
MAX_G = 128
MAX_TRIES = 1000  # grids drawn per reset before giving up (RuntimeError)
UNREACHABLE = 1 << 30  # the distance of walls (and of cells cut off from the goal)
FEATURES = 9  # observation features per agent
STAY, UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3, 4
BLOCKED = 2  # the observed change in distance of a move into a wall or off the grid


# ------------------------------------------------------------------ grid helpers (cell = y * G + x)


@jitable
def _neighbour(cell, move, G):
    """The cell that ``move`` leads to from ``cell`` (up: y − 1, down: y + 1, left: x − 1, right:
    x + 1), ``cell`` itself for ``STAY``, or −1 off the grid."""
    y, x = cell // G, cell % G
    if move == UP:
        y -= 1
    elif move == DOWN:
        y += 1
    elif move == LEFT:
        x -= 1
    elif move == RIGHT:
        x += 1
    if y < 0 or y >= G or x < 0 or x >= G:
        return -1
    return y * G + x


@jitable
def _target(free, cell, move, G):
    """Where ``move`` takes an agent at ``cell``: a move into a wall or off the grid is a stay."""
    nb = _neighbour(cell, move, G)
    if nb < 0 or free[nb] == 0:
        return cell
    return nb


@jitable
def _flood(free, G, source, dist, queue):
    """Breadth-first from ``source`` over free cells not yet reached (``dist == UNREACHABLE``),
    writing their path lengths into ``dist``; ``queue[:count]`` are the cells reached, in order.
    Returns ``count``."""
    dist[source] = 0
    queue[0] = source
    head, tail = 0, 1
    while head < tail:
        c = queue[head]
        head += 1
        for move in range(1, 5):
            nb = _neighbour(c, move, G)
            if nb >= 0 and free[nb] != 0 and dist[nb] == UNREACHABLE:
                dist[nb] = dist[c] + 1
                queue[tail] = nb
                tail += 1
    return tail


@jitable
def _bfs(free, G, source, dist, queue):
    """``dist[c]``: the length of a shortest 4-connected path from ``source`` to ``c`` over free
    cells; ``UNREACHABLE`` for walls and cut-off cells. Returns the number of cells reached."""
    for c in range(dist.shape[0]):
        dist[c] = UNREACHABLE
    return _flood(free, G, source, dist, queue)


@njit
def goal_distances(free, G, goals):
    """BFS distances from every goal: ``(len(goals), G*G)`` int32, ``UNREACHABLE`` at walls."""
    dist = np.empty((goals.shape[0], G * G), dtype=np.int32)
    queue = np.empty(G * G, dtype=np.int64)
    for k in range(goals.shape[0]):
        _bfs(free, G, goals[k], dist[k], queue)
    return dist


@jitable
def _keep_largest_component(free, G, seen, queue):
    """Turn every free cell outside the largest 4-connected free component into a wall (ties: the
    component of the lowest cell index wins); returns the component's size. ``seen`` is scratch."""
    M = G * G
    for c in range(M):
        seen[c] = UNREACHABLE
    best, best_size = -1, 0
    for s in range(M):  # each component is flooded once, from its lowest cell
        if free[s] != 0 and seen[s] == UNREACHABLE:
            size = _flood(free, G, s, seen, queue)
            if size > best_size:
                best, best_size = s, size
    if best >= 0:
        _bfs(free, G, best, seen, queue)  # now only the largest component is reached
    for c in range(M):
        if free[c] != 0 and seen[c] == UNREACHABLE:
            free[c] = 0
    return best_size


@jitable
def _references(dist, pos, goal, horizon):
    """The per-episode references: (collision-free relaxation's return, every-agent-stays return)."""
    N = pos.shape[0]
    high, off = 0.0, 0
    for k in range(N):
        d = dist[k, pos[k]]
        high -= min(d - 1, horizon) if d > 0 else 0
        off += pos[k] != goal[k]
    return high / N, -horizon * off / N


# ------------------------------------------------------------------------------ collisions


@jitable
def _resolve(pos, target, cancelled, flag, count, occupant):
    """Cancel conflicting moves in place (``target[a] = pos[a]``), in synchronous rounds.

    A moving agent ``a`` (``target[a] != pos[a]``) is cancelled in a round when another agent's
    target is ``a``'s target (a moving one or a staying one) or when the agent at ``a``'s target
    moves into ``a``'s cell (a swap). Every agent cancelled in a round is cancelled at once; rounds
    repeat until one cancels nobody. Sets ``cancelled`` and returns how many were cancelled.
    ``count`` (zeros) and ``occupant`` (−1s), both of size G*G, are scratch and left as found.
    """
    N = pos.shape[0]
    for a in range(N):
        cancelled[a] = False
        occupant[pos[a]] = a
    total = 0
    while True:
        for a in range(N):
            count[target[a]] += 1
        for a in range(N):
            t = target[a]
            if t == pos[a]:
                flag[a] = False
                continue
            b = occupant[t]  # an agent standing at a's target, if any
            flag[a] = count[t] > 1 or (b >= 0 and target[b] == pos[a])
        for a in range(N):
            count[target[a]] = 0
        new = 0
        for a in range(N):
            if flag[a]:
                target[a] = pos[a]
                cancelled[a] = True
                new += 1
        total += new
        if new == 0:
            break
    for a in range(N):
        occupant[pos[a]] = -1
    return total


@njit
def resolve_moves(pos, target, num_cells):
    """The cells after collision resolution and which moves were cancelled (see ``_resolve``)."""
    N = pos.shape[0]
    final = target.copy()
    cancelled = np.zeros(N, dtype=np.bool_)
    flag = np.zeros(N, dtype=np.bool_)
    count = np.zeros(num_cells, dtype=np.int64)
    occupant = np.full(num_cells, -1, dtype=np.int64)
    _resolve(pos, final, cancelled, flag, count, occupant)
    return final, cancelled


# --------------------------------------------------------------------------------- kernels


@njit
def _reset(rng, idx, G, N, density, horizon, free, dist, pos, goal, steps, ref_high, ref_low):
    """Draw a fresh grid, starts and goals for each environment of ``idx``; returns the first
    environment for which no grid had a large enough component in ``MAX_TRIES`` draws, or −1."""
    M = G * G
    seen = np.empty(M, dtype=np.int64)
    queue = np.empty(M, dtype=np.int64)
    cells = np.empty(M, dtype=np.int64)
    for i in idx:
        size = 0
        for _ in range(MAX_TRIES):
            for c in range(M):
                free[i, c] = 1 if uniform(rng[i]) >= density else 0
            size = _keep_largest_component(free[i], G, seen, queue)
            if size >= 2 * N:
                break
        if size < 2 * N:
            return i
        m = 0
        for c in range(M):
            if free[i, c] != 0:
                cells[m] = c
                m += 1
        for k in range(N):  # distinct starts: a partial Fisher–Yates shuffle of the component
            j = k + randint(rng[i], m - k)
            cells[k], cells[j] = cells[j], cells[k]
            pos[i, k] = cells[k]
        for k in range(N):  # distinct goals, goal k != start k (m - k >= N + 1 >= 3 cells remain)
            j = k + randint(rng[i], m - k)
            while cells[j] == pos[i, k]:
                j = k + randint(rng[i], m - k)
            cells[k], cells[j] = cells[j], cells[k]
            goal[i, k] = cells[k]
        for k in range(N):
            _bfs(free[i], G, goal[i, k], dist[i, k], queue)
        steps[i] = 0
        ref_high[i], ref_low[i] = _references(dist[i], pos[i], goal[i], horizon)
    return -1


@njit
def _step(actions, idx, G, penalty, horizon, free, pos, goal, steps):
    """Apply the joint moves (collisions resolved), return (reward, terminated, truncated)."""
    n = idx.shape[0]
    N = pos.shape[1]
    reward = np.empty(n)
    terminated = np.zeros(n, dtype=np.bool_)
    truncated = np.zeros(n, dtype=np.bool_)
    target = np.empty(N, dtype=np.int64)
    cancelled = np.zeros(N, dtype=np.bool_)
    flag = np.zeros(N, dtype=np.bool_)
    count = np.zeros(G * G, dtype=np.int64)
    occupant = np.full(G * G, -1, dtype=np.int64)
    for j in range(n):
        i = idx[j]
        for a in range(N):
            target[a] = _target(free[i], pos[i, a], actions[j, a], G)
        cancels = _resolve(pos[i], target, cancelled, flag, count, occupant)
        off = 0
        for a in range(N):
            pos[i, a] = target[a]
            off += target[a] != goal[i, a]
        steps[i] += 1
        reward[j] = -off / N - penalty * cancels / N
        terminated[j] = off == 0
        truncated[j] = off > 0 and steps[i] >= horizon
    return reward, terminated, truncated


@njit
def _observe(idx, G, free, dist, pos, goal):
    """One row per agent, shape ``(len(idx), N, FEATURES)``: x/G, y/G, goal x/G, goal y/G,
    distance/(2G), then the change in distance of the moves up, down, left, right (``BLOCKED`` for a
    move into a wall or off the grid)."""
    N = pos.shape[1]
    out = np.empty((idx.shape[0], N, FEATURES), dtype=np.float32)
    for j in range(idx.shape[0]):
        i = idx[j]
        for a in range(N):
            c, g = pos[i, a], goal[i, a]
            d = dist[i, a, c]
            row = out[j, a]
            row[0] = np.float32((c % G) / G)
            row[1] = np.float32((c // G) / G)
            row[2] = np.float32((g % G) / G)
            row[3] = np.float32((g // G) / G)
            row[4] = np.float32(d / (2.0 * G))
            for move in range(1, 5):
                nb = _neighbour(c, move, G)
                if nb < 0 or free[i, nb] == 0:
                    row[4 + move] = BLOCKED
                else:
                    row[4 + move] = np.float32(dist[i, a, nb] - d)
    return out


@njit
def _masks(idx, G, free, pos):
    """``(len(idx), N, 5)`` int8: 1 where the move is allowed (stay always is)."""
    N = pos.shape[1]
    out = np.zeros((idx.shape[0], N, 5), dtype=np.int8)
    for j in range(idx.shape[0]):
        i = idx[j]
        for a in range(N):
            out[j, a, STAY] = 1
            for move in range(1, 5):
                nb = _neighbour(pos[i, a], move, G)
                if nb >= 0 and free[i, nb] != 0:
                    out[j, a, move] = 1
    return out


@njit
def _move_targets(free, pos, G):
    """``(N, 5)``: the cell each value of each agent's action leads to (blocked moves stay)."""
    N = pos.shape[0]
    out = np.empty((N, 5), dtype=np.int64)
    for a in range(N):
        for move in range(5):
            out[a, move] = _target(free, pos[a], move, G)
    return out


class SwarmCore(Core):
    """``num_envs`` Swarm-v0 environments: grids, agents, goals and BFS distances as arrays.

    Cells are flat indices ``y * G + x``. ``free`` ``(num_envs, G*G)`` int8 (1 = free, 0 = wall),
    ``dist`` ``(num_envs, N, G*G)`` int32 (agent ``k``'s distance to its goal), ``pos`` and ``goal``
    ``(num_envs, N)`` int64, ``steps``, and the episode's references ``ref_high`` and ``ref_low``.
    """

    def __init__(self, num_envs, N, G, density, horizon, penalty, references=True):
        super().__init__(num_envs, references)
        self.N, self.G, self.density, self.horizon, self.penalty = N, G, density, horizon, penalty
        self.free = np.ones((num_envs, G * G), dtype=np.int8)
        self.dist = np.zeros((num_envs, N, G * G), dtype=np.int32)
        self.pos = np.zeros((num_envs, N), dtype=np.int64)
        self.goal = np.zeros((num_envs, N), dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.ref_high = np.zeros(num_envs)
        self.ref_low = np.zeros(num_envs)

    def reset(self, idx):
        failed = _reset(self.rng, idx, self.G, self.N, self.density, self.horizon, self.free, self.dist,
                        self.pos, self.goal, self.steps, self.ref_high, self.ref_low)
        if failed >= 0:
            raise RuntimeError(
                f"Swarm-v0: no grid among {MAX_TRIES} draws had a free component of at least 2N = {2 * self.N} "
                f"cells (N={self.N}, G={self.G}, obstacle_density={self.density}); lower obstacle_density or N, "
                "or raise G"
            )

    def step(self, actions, idx):
        return _step(actions, idx, self.G, self.penalty, self.horizon, self.free, self.pos, self.goal, self.steps)

    def observe(self, idx):
        return _observe(idx, self.G, self.free, self.dist, self.pos, self.goal)

    def info(self, idx):
        out = {}
        if self.references:
            first = self.steps[idx] == 0  # per="episode": the reset info carries the episode's values
            out["optimal_value"] = np.where(first, self.ref_high[idx], 0.0)
            out["random_value"] = np.where(first, self.ref_low[idx], 0.0)
        out["action_mask"] = _masks(idx, self.G, self.free, self.pos)
        return out

    def set_state(self, i, free, starts, goals):
        """Put environment ``i`` at the start of an episode on a given instance (for tests and
        hand-made scenarios): ``free`` ``(G, G)`` (nonzero = free), ``starts`` and ``goals`` ``(N,)``
        flat cells ``y * G + x``. Every goal must be reachable from its agent's start."""
        G, N = self.G, self.N
        free = (np.asarray(free).reshape(G * G) != 0).astype(np.int8)
        starts = np.asarray(starts, dtype=np.int64).reshape(N)
        goals = np.asarray(goals, dtype=np.int64).reshape(N)
        for name, cells in (("starts", starts), ("goals", goals)):
            if len(set(cells.tolist())) != N or (cells < 0).any() or (cells >= G * G).any() or not free[cells].all():
                raise ValueError(f"Swarm-v0: set_state: {name} must be {N} distinct free cells")
        dist = goal_distances(free, G, goals)
        if (starts == goals).any() or (dist[np.arange(N), starts] == UNREACHABLE).any():
            raise ValueError("Swarm-v0: set_state: every goal must differ from and be reachable from its start")
        self.free[i], self.pos[i], self.goal[i], self.dist[i], self.steps[i] = free, starts, goals, dist, 0
        self.ref_high[i], self.ref_low[i] = _references(dist, starts, goals, self.horizon)


class SwarmEnv(CoreEnv):
    """Move ``N`` agents at once to their goals on a grid with obstacles; collisions cancel moves.

    ## Description
    ``N`` agents live on a ``G × G`` grid with walls, each with its own goal cell. Every step, each
    agent stays or moves one cell; moves are simultaneous, so the joint action (``5^N`` of them)
    has to be coordinated: agents that would end in the same cell, or swap places, lose their move.

    Coordinates: a cell is ``(x, y)`` with ``x`` the column (0 at the left) and ``y`` the row
    (0 at the top); its flat index is ``y * G + x``. Moves: 0 stay, 1 up (``y − 1``), 2 down
    (``y + 1``), 3 left (``x − 1``), 4 right (``x + 1``).

    Collisions are resolved in synchronous rounds: in a round, a moving agent's move is cancelled
    (it stays where it was) when another agent targets the same cell, whether that agent moves or
    stays, or when it and the agent in its target cell would swap places. All moves cancelled in a
    round are cancelled together, then the round repeats with the new targets, since an agent that
    now stays can block an agent moving into its cell; it stops when a round cancels nothing.
    Following an agent that moves away is allowed, and so is a rotation of three or more agents.
    Afterwards no two agents share a cell. **Every agent whose move is cancelled pays the
    collision penalty once per step**; an agent that stays (by choice, or by a move into a wall)
    never pays it, even when others bump into it.

    ## Action Space
    ``MultiDiscrete([5] * N)``. ``info["action_mask"]`` is int8 ``(N, 5)``, 1 = allowed: stay always,
    a move unless it leads into a wall or off the grid. A forbidden move that is taken anyway acts
    as stay (no penalty).

    ## Observation Space
    ``Box(float32, (N, 9))``, item-structured (one row per agent, the items of the
    ``MultiDiscrete`` action; see ``docs/adding-an-environment.md``): row ``i`` is agent ``i``'s 9
    features: ``x/G``, ``y/G``, goal ``x/G``, goal ``y/G``, (shortest-path distance to its
    goal)``/(2G)``, then for the moves up, down, left, right the change in that distance the move
    would make if the agent moved alone: −1 or +1 (the grid is bipartite, so 0 does not occur), or
    +2 for a move into a wall or off the grid. No global features (``item_global_features = 0``).
    Every agent's features are in the observation, so agents see where the others are; walls show
    only through the blocked moves.

    ## Rewards
    After each step: ``−(agents not at their goal)/N − collision_penalty · (agents whose move was
    cancelled)/N``; 0 only when every agent is at its goal and no move was cancelled.

    ## Starting State
    Each reset draws a fresh instance from the environment's random stream: every cell is a wall
    with probability ``obstacle_density``; only the largest 4-connected free component stays free
    (ties: the one holding the lowest cell index), other free cells become walls. If it has fewer
    than ``2N`` cells the grid is redrawn (at most 1000 draws, then a RuntimeError naming the
    arguments). ``N`` distinct starts are drawn uniformly from the component, then goals one agent
    at a time, uniformly among the cells not yet taken as goals and not the agent's own start (so
    goals are distinct, an agent never starts on its goal, and a start may be another agent's goal).
    Shortest-path distances from every goal are computed by BFS.

    ## Episode End
    Terminates when every agent is at its goal; truncated after ``horizon`` steps otherwise.

    ## Arguments
    | name | default | allowed | meaning |
    |---|---|---|---|
    | N | 8 | 2..64, ``2N ≤ G²`` | agents; ``|A| = 5^N`` |
    | G | 16 | 4..128 | grid side |
    | obstacle_density | 0.15 | [0, 0.5] | probability that a cell is a wall |
    | horizon | 64 | ≥ 1 | steps per episode at most |
    | collision_penalty | 0.1 | ≥ 0 | penalty per cancelled move (divided by ``N``) |
    | references | True | bool | ``optimal_value``, ``random_value`` in ``info``; False skips their cost |

    ## Optimum and Reference
    No exact optimum (``optimal_action()`` is not provided). References are per episode
    (``per="episode"``: the reset info carries them, later infos carry 0.0). With ``d_i`` agent
    ``i``'s start-to-goal distance, ``info["optimal_value"] = −(1/N) Σ_i min(d_i − 1, horizon)`` is
    the return of the collision-free relaxation in which every agent follows its own shortest path
    (agent ``i`` is off its goal after steps ``1..d_i − 1``): an upper bound on any policy's return,
    since no agent can arrive sooner and penalties are never positive. ``info["random_value"] =
    −horizon`` (every agent starts off its goal) is the exact return of every agent staying put.
    :meth:`SwarmEnv.shortest_path_action` is the relaxation's policy.

    ``landscape()`` (``landscape_kind = "heuristic"``) is a hand-written heuristic value, not an
    oracle: the one-step reward with pairwise collisions plus the negative mean distance to go
    (see :meth:`SwarmEnv.landscape`).

    ## Vector Env
    ``gymnasium.make_vec("standin/Swarm-v0", num_envs)`` steps all copies in one numba kernel.

    ## Version History
    * v0: initial version.
    * v0: observations are item-structured (one row per agent, shape ``(N, 9)`` instead of the flat
      ``(9N,)``: the same numbers), see docs/adding-an-environment.md.
    """

    name = "Swarm-v0"
    size_kwargs = ("N",)  # the arguments that set |A|; reports plot against them
    landscape_kind = "heuristic"
    item_global_features = 0  # agents.layout: no column is shared by all agents
    reference = Reference(
        high="collision-free relaxation (every agent on its own shortest path): an upper bound on return",
        high_is_optimum=False,
        low="every agent stays put",
        high_is_bound=True,
        per="episode",
    )

    def __init__(self, N=8, G=16, obstacle_density=0.15, horizon=64, collision_penalty=0.1, references=True,
                 render_mode=None):
        self.N = check_int(self.name, "N", N, 2, MAX_N)
        self.G = check_int(self.name, "G", G, 4, MAX_G)
        if 2 * self.N > self.G * self.G:
            raise ValueError(f"{self.name}: N must be at most G²/2 = {self.G * self.G // 2} for G={self.G}, got {N}")
        self.obstacle_density = check_float(self.name, "obstacle_density", obstacle_density, 0.0, 0.5)
        self.horizon = check_int(self.name, "horizon", horizon, 1)
        self.collision_penalty = check_float(self.name, "collision_penalty", collision_penalty, 0.0)
        self.render_mode = render_mode

        self.action_space = spaces.MultiDiscrete([5] * self.N)
        low = np.array([0, 0, 0, 0, 0, -1, -1, -1, -1], dtype=np.float32)
        high = np.array([1, 1, 1, 1, self.G / 2, BLOCKED, BLOCKED, BLOCKED, BLOCKED], dtype=np.float32)
        self.observation_space = spaces.Box(np.tile(low, (self.N, 1)), np.tile(high, (self.N, 1)), dtype=np.float32)
        self.references = check_bool(self.name, "references", references)
        self.core = self.make_core(1, self.references)

    def make_core(self, num_envs: int, references: bool = True) -> SwarmCore:
        return SwarmCore(num_envs, self.N, self.G, self.obstacle_density, self.horizon, self.collision_penalty,
                         references)

    # ------------------------------------------------------------ capabilities

    def _targets_and_distances(self):
        core = self.core
        targets = _move_targets(core.free[0], core.pos[0], self.G)  # (N, 5)
        return targets, core.dist[0][np.arange(self.N)[:, None], targets]

    def shortest_path_action(self) -> np.ndarray:
        """Each agent's first move along its own shortest path, ignoring the others: the first of
        up, down, left, right that lowers its distance to its goal by one; stay at the goal. This
        is the policy of the collision-free relaxation behind ``info["optimal_value"]``; with
        agents in each other's way it collides and scores below that bound."""
        targets, dist = self._targets_and_distances()
        closer = dist[:, 1:] == dist[:, :1] - 1
        return np.where(closer.any(axis=1), closer.argmax(axis=1) + 1, STAY).astype(np.int64)

    def landscape(self) -> Quadratic:
        """A hand-written heuristic value of the joint action, not an oracle: the stand-in for a value
        function that learned values must beat. On search's one-hot encoding (bit ``5c + v`` for
        agent ``c`` taking value ``v``),

            h(a) = −(1/N) Σ_i [1(next_i ≠ goal_i) + dist_i(next_i)] − (collision_penalty/N) · 2 · pairs,

        where ``next_i`` is agent ``i``'s target cell (a blocked move stays) and ``pairs`` counts the
        pairs of agents that target the same cell or swap: the one-step reward with collisions
        counted pairwise (no cascades) plus the negative mean distance still to go. Linear terms
        ``h``; each conflicting pair of bits gets ``J = −collision_penalty/N`` in both triangles, so
        ``xᵀJx`` adds ``−2·collision_penalty/N`` per conflicting pair.
        """
        targets, dist = self._targets_and_distances()
        goal, pos = self.core.goal[0], self.core.pos[0]
        lin = -((targets != goal[:, None]) + dist.astype(np.float64)) / self.N
        t = targets.reshape(-1)
        agent = np.repeat(np.arange(self.N), 5)
        p = pos[agent]
        same = t[:, None] == t[None, :]
        swap = (t[:, None] == p[None, :]) & (p[:, None] == t[None, :])
        conflict = (agent[:, None] != agent[None, :]) & (same | swap)
        return Quadratic(0.0, lin.reshape(-1), conflict * (-self.collision_penalty / self.N))


class SwarmVectorEnv(CoreVectorEnv):
    """Swarm-v0 copies stepped together (the ``vector_entry_point``)."""

    env_class = SwarmEnv
