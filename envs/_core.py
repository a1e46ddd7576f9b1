"""Batched environment cores: one set of numba kernels behind both the single and the vector env.

Every standin family keeps the state of ``num_envs`` environments as arrays in a :class:`Core`
and advances them with numba kernels over index arrays. The Gymnasium single env
(:class:`CoreEnv`) is a core of one; the vector env (:class:`CoreVectorEnv`, registered as the
family's ``vector_entry_point``) is a core of ``num_envs``. Both call the same kernels, so they
cannot drift apart, and a test checks that they give identical trajectories from the same seeds.

Randomness: each environment ``i`` owns a xoshiro256** state ``core.rng[i]`` (``uint64[4]``). A
seeded reset sets it from ``np_random(seed).integers(2**63)``, the single env's ``self.np_random``
(Gymnasium's seeding); a reset without a seed continues the stream. The vector env seeds its
environment ``i`` with ``seed + i``, as Gymnasium's own vector envs do.

A family provides a ``Core`` subclass with four methods over an ``int64`` index array ``idx``:

- ``reset(idx)``: start a fresh episode in each environment of ``idx``;
- ``step(actions, idx) -> (reward, terminated, truncated)``: ``actions[j]`` is environment
  ``idx[j]``'s action (already checked); a float64 and two bool arrays of ``len(idx)``
  (``truncated`` where the family's own horizon cut the episode short of a terminal state);
- ``observe(idx)``: the observations, shape ``(len(idx), *obs_shape)``;
- ``info(idx)``: a dict of fresh arrays with leading dimension ``len(idx)`` (``optimal_value`` and
  ``random_value``, only while ``core.references`` is true; ``action_mask``; ...),

and a ``CoreEnv`` subclass whose ``__init__`` checks its arguments, sets the spaces and
implements ``make_core(num_envs)``.
"""

from __future__ import annotations

import numpy as np
from gymnasium import Env
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from standin.search.jit import rng_state

SEED_BOUND = 2**63
"""Kernel seeds are drawn as ``np_random.integers(SEED_BOUND)``."""


class Core:
    """The state of ``num_envs`` environments of one family, as arrays.

    Subclasses allocate their state arrays in ``__init__`` and implement ``reset``, ``step``,
    ``observe`` and ``info`` (module docstring) as thin wrappers around numba kernels.
    """

    def __init__(self, num_envs: int, references: bool = True):
        self.num_envs = int(num_envs)
        self.references = references  # compute info["optimal_value"]/["random_value"] (may cost)
        self.rng = np.zeros((self.num_envs, 4), dtype=np.uint64)
        self.rng[:, 0] = 1  # a valid (never all-zero) state until seeded

    def seed(self, i: int, seed: int) -> None:
        """Set environment ``i``'s random stream from the integer ``seed``."""
        self.rng[i] = rng_state(seed)

    def reset(self, idx: np.ndarray) -> None:
        raise NotImplementedError

    def step(self, actions: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def observe(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def info(self, idx: np.ndarray) -> dict:
        raise NotImplementedError


_ZERO = np.zeros(1, dtype=np.int64)


def _one(info: dict) -> dict:
    """Environment 0's entries of a batched info dict, as Python scalars where scalar."""
    out = {}
    for key, value in info.items():
        v = value[0]
        out[key] = v.item() if np.ndim(v) == 0 else v
    return out


class CoreEnv(Env):
    """A Gymnasium env backed by a :class:`Core` of one environment.

    Subclasses take a ``references=True`` argument, and set ``action_space``,
    ``observation_space``, ``self.references`` and ``self.core = self.make_core(1, references)`` in
    ``__init__`` and name the family in ``name`` (for error messages). Capabilities
    (``landscape()``, ``optimal_action()``) read ``self.core``'s arrays at index 0.
    """

    metadata = {"render_modes": []}
    name = "env"
    core: Core

    def make_core(self, num_envs: int, references: bool = True) -> Core:
        """A core of ``num_envs`` environments with this env's arguments (``references``: whether
        its ``info`` carries ``optimal_value`` and ``random_value``)."""
        raise NotImplementedError

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None or not getattr(self, "_seeded", False):
            self.core.seed(0, int(self.np_random.integers(SEED_BOUND)))
            self._seeded = True
        self.core.reset(_ZERO)
        self._needs_reset = False
        return self.core.observe(_ZERO)[0], _one(self.core.info(_ZERO))

    def check_action(self, action) -> np.ndarray:
        """``action`` as an array of the action space's dtype, or a ValueError naming the problem."""
        if not self.action_space.contains(action):
            a = np.asarray(action)
            shown = np.unique(a)[:6].tolist() if a.size else []
            raise ValueError(
                f"{self.name}: action is not in {self.action_space}: got shape {a.shape}, dtype {a.dtype}, "
                f"values {shown}"
            )
        return np.asarray(action, dtype=self.action_space.dtype)

    def step(self, action):
        if getattr(self, "_needs_reset", True):
            raise RuntimeError(f"{self.name}: call reset() before step() (and after an episode ends)")
        a = self.check_action(action)
        reward, terminated, truncated = self.core.step(a[None], _ZERO)
        term, trunc = bool(terminated[0]), bool(truncated[0])
        self._needs_reset = term or trunc
        return self.core.observe(_ZERO)[0], float(reward[0]), term, trunc, _one(self.core.info(_ZERO))


def _autoreset_mode(value) -> AutoresetMode:
    """An ``AutoresetMode`` from itself, its value (``"NextStep"``) or its name (``"next_step"``)."""
    if isinstance(value, AutoresetMode):
        return value
    for mode in AutoresetMode:
        if isinstance(value, str) and value in (mode.value, mode.name, mode.name.lower()):
            return mode
    allowed = ", ".join(repr(m.name.lower()) for m in AutoresetMode)
    raise ValueError(f"autoreset_mode must be one of {allowed} (or an AutoresetMode), got {value!r}")


def _batch_info(info: dict, num_envs: int) -> dict:
    """Gymnasium's vector info convention: each key's array plus a ``_key`` mask (all True)."""
    out = dict(info)
    every = np.ones(num_envs, dtype=bool)
    for key in info:
        out["_" + key] = every
    return out


class CoreVectorEnv(VectorEnv):
    """``num_envs`` copies of a :class:`CoreEnv` family stepped together by its kernels.

    Subclasses name the single env in ``env_class``; ``gymnasium.make_vec(id, num_envs)`` then
    builds one through the ``vector_entry_point``. Arguments are the family's, plus:

    - ``autoreset_mode``: ``"next_step"`` (Gymnasium's default: the step after an episode ends
      resets that environment and ignores its action), ``"same_step"`` (reset at once; the last
      observation and info go to ``info["final_obs"]`` and ``info["final_info"]``) or
      ``"disabled"`` (call ``reset(options={"reset_mask": mask})`` yourself);
    - ``max_episode_steps``: truncate episodes after this many steps (None: the family's own end).

    Every family also takes ``references`` (default True): whether ``info`` carries
    ``optimal_value`` and ``random_value``. Some families pay for them on every step (Knapsack's
    dynamic programme, Slate's reference rollouts); training, which never reads them, switches
    them off.
    """

    env_class: type[CoreEnv] = CoreEnv

    def __init__(self, num_envs: int = 1, autoreset_mode="next_step", max_episode_steps=None, **kwargs):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be an integer >= 1 or None, got {max_episode_steps!r}")
        self.template = self.env_class(**kwargs)  # checks the arguments
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.metadata = {**self.env_class.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = None
        self.single_action_space = self.template.action_space
        self.single_observation_space = self.template.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.core = self.template.make_core(self.num_envs, references=self.template.references)
        self._all = np.arange(self.num_envs, dtype=np.int64)
        self._seeded = np.zeros(self.num_envs, dtype=bool)
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.ones(self.num_envs, dtype=bool)

    # ------------------------------------------------------------------ seeding

    def _seed(self, seed, idx: np.ndarray) -> None:
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset: seed must be an int, None or {self.num_envs} seeds, got {len(seeds)}")
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        for i in idx:
            if seeds[i] is not None or not self._seeded[i]:
                rng, _ = seeding.np_random(seeds[i])
                self.core.seed(int(i), int(rng.integers(SEED_BOUND)))
                self._seeded[i] = True

    def reset(self, *, seed=None, options=None):
        mask = None if options is None else options.get("reset_mask")
        if mask is None:
            idx = self._all
        else:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(f"reset: reset_mask must be a bool array of shape ({self.num_envs},)")
            idx = np.flatnonzero(mask).astype(np.int64)
        self._seed(seed, idx)
        self.core.reset(idx)
        self._steps[idx] = 0
        self._needs_reset[idx] = False
        return self.core.observe(self._all), _batch_info(self.core.info(self._all), self.num_envs)

    # --------------------------------------------------------------------- step

    def _check_actions(self, actions) -> np.ndarray:
        space = self.single_action_space
        a = np.asarray(actions)
        want = (self.num_envs, *space.shape)
        if a.shape != want:
            raise ValueError(f"{self.template.name}: actions must have shape {want}, got {a.shape}")
        a = a.astype(space.dtype, copy=False)
        lo = getattr(space, "start", 0)
        hi = lo + getattr(space, "nvec", 2) - 1
        if (a < lo).any() or (a > hi).any():
            raise ValueError(f"{self.template.name}: actions outside {space}")
        k = getattr(space, "k", None)
        if k is not None and (a.reshape(self.num_envs, -1).sum(axis=1) != k).any():
            raise ValueError(f"{self.template.name}: every action must have exactly {k} ones ({space})")
        return a

    def step(self, actions):
        if not self._seeded.all():
            raise RuntimeError(f"{self.template.name}: call reset() before step()")
        a = self._check_actions(actions)
        n = self.num_envs
        reward = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        if self.autoreset_mode is AutoresetMode.DISABLED and self._needs_reset.any():
            raise RuntimeError(
                "step: some environments ended and autoreset is disabled; "
                "call reset(options={'reset_mask': ...}) first"
            )
        resetting = self._needs_reset if self.autoreset_mode is AutoresetMode.NEXT_STEP else np.zeros(n, bool)
        if resetting.any():
            act = np.flatnonzero(~resetting).astype(np.int64)
            if act.size:
                reward[act], terminated[act], truncated[act] = self.core.step(a[act], act)
            gone = np.flatnonzero(resetting).astype(np.int64)
            self.core.reset(gone)
            self._steps[gone] = 0
        else:
            act = self._all
            reward, terminated, truncated = self.core.step(a, act)
            reward = np.asarray(reward, dtype=np.float64)
            terminated = np.asarray(terminated, dtype=bool)
            truncated = np.asarray(truncated, dtype=bool)
        self._steps[act] += 1
        if self.max_episode_steps is not None:
            truncated[act] |= (self._steps[act] >= self.max_episode_steps) & ~terminated[act]
        done = terminated | truncated
        obs = self.core.observe(self._all)
        info = _batch_info(self.core.info(self._all), n)
        if self.autoreset_mode is AutoresetMode.SAME_STEP and done.any():
            gone = np.flatnonzero(done).astype(np.int64)
            final_obs = np.full(n, None, dtype=object)
            for i in gone:
                final_obs[i] = obs[i].copy()
            final_info = {}
            for key, value in info.items():
                if not key.startswith("_"):
                    final_info[key], final_info["_" + key] = np.array(value, copy=True), done.copy()
            self.core.reset(gone)
            self._steps[gone] = 0
            obs[gone] = self.core.observe(gone)
            for key, value in self.core.info(gone).items():
                info[key][gone] = value
            info.update(final_obs=final_obs, _final_obs=done.copy(), final_info=final_info, _final_info=done.copy())
        else:
            self._needs_reset = done
        return obs, reward, terminated, truncated, info


# ----------------------------------------------------------------------- argument checks


def check_int(env: str, name: str, value, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in ``lo..hi``, or a ValueError naming ``env``, the argument and the range."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{env}: {name} must be an integer in {allowed}, got {value!r}")
    return int(value)


def check_float(env: str, name: str, value, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), or a ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = np.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or v <= hi)
    if not ok:
        left = "any" if lo is None else f"{'(' if lo_open else '['}{lo}"
        right = "" if lo is None and hi is None else (f", {hi}]" if hi is not None else ", inf)")
        raise ValueError(f"{env}: {name} must be a number in {left}{right}, got {value!r}")
    return v


def check_bool(env: str, name: str, value) -> bool:
    """``value`` if it is a bool, else a ValueError naming ``env`` and the argument."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{env}: {name} must be true or false, got {value!r}")
    return bool(value)


def check_choice(env: str, name: str, value, allowed) -> str:
    """``value`` if it is one of ``allowed``, else a ValueError listing them."""
    if value not in allowed:
        raise ValueError(f"{env}: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
