"""Suite files: TOML descriptions of a grid of trials, validated before anything runs.

A suite lists environments and agents; each may carry a ``sweep`` table whose lists expand as a
cross product. Every (env setting, agent setting, seed) is one trial. See ``docs/suites.md``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from standin import agents, envs
from standin.search import log2_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITES_DIR = Path(__file__).resolve().parent / "suites"

SUITE_KEYS = {
    "name": "suite name (defaults to the file name)",
    "description": "one line shown by `standin list`",
    "seeds": "list of integer seeds, or an integer count (seeds 0..count-1)",
    "train_steps": "the training budget, in environment steps, of every agent that learns (default 0); a list "
                   "sweeps it: each learning agent runs at every budget (agents that don't learn get 0)",
    "eval_episodes": "evaluation episodes per trial (default 100)",
    "time_limit": "seconds per trial (training and evaluation); a trial past it is recorded as an error",
    "include": "list of suite names or .toml paths (relative to this file) whose trials this suite also runs",
    "envs": "array of [[envs]] tables",
    "agents": "array of [[agents]] tables",
}
ENV_KEYS = {
    "id": "registered env id, or 'module:Name-v0' for one your module registers",
    "kwargs": "table of env arguments",
    "sweep": "table of lists, crossed",
}
AGENT_KEYS = {
    "name": "agent name",
    "config": "table of config fields",
    "sweep": "table of lists of config values, crossed",
    "train_steps": "environment steps of training for this agent alone (overrides the suite's budget; "
                   "a comparison should not need it)",
    "label": "display name (default: the name and the config keys the suite sets); swept values are appended",
    "per_env": "table: env name or id -> config fields that replace `config`'s on that env",
    "envs": "list of env names or ids this agent runs on (default: every env of the suite)",
    "time_limit": "seconds per trial for this agent (overrides the suite's)",
}
COMPUTE_KEY = "budget"
"""The config field that sets decision-time compute: trials that differ only in it form one group."""
NONE_STRINGS = ("none", "None")
"""TOML has no null: the string "none" stands for Python's None in kwargs, configs and sweeps."""


def safe_name(text: str) -> str:
    """``text`` as one path component of a TensorBoard run: spaces as ``_``, only ``[A-Za-z0-9-_.=+]``."""
    return "".join(ch for ch in text.replace(" ", "_") if ch.isalnum() or ch in "-_.=+")


@dataclass(frozen=True)
class Trial:
    """One (env setting, agent setting, seed): trained, evaluated, recorded as one line."""

    suite: str
    env_id: str
    env_kwargs: dict
    agent: str
    agent_config: dict
    seed: int
    train_steps: int
    eval_episodes: int
    agent_label: str = ""
    size_kwargs: tuple = field(default=("n",))
    agent_rank: int = 0
    """Position of the agent setting in its suite: reports list agents in this order."""
    time_limit: float | None = None
    """Wall seconds for training and evaluation; past it the trial is recorded as an error. Not
    part of the identity: it decides whether a trial finishes, not what it measures."""
    agent_group: str = ""
    """The agent setting's label without a swept ``budget``: one search method at several budgets
    shares it, and the report's anytime curves draw it as one line."""
    agent_setting: str = ""
    """The agent setting's label without the suite's training budget: one learner at several budgets
    shares it, and the report's sample-efficiency curves draw it as one line."""
    log2_actions: float | None = None
    """log2 of the action space's size, read when the suite is loaded (``None`` when not known
    before the trial runs). Not part of the identity: the env's kwargs decide it."""

    @property
    def trial_id(self) -> str:
        """A stable hash of everything that decides the trial's outcome."""
        ident = {
            "env_id": self.env_id, "env_kwargs": self.env_kwargs, "agent": self.agent,
            "agent_config": self.agent_config, "seed": self.seed, "train_steps": self.train_steps,
            "eval_episodes": self.eval_episodes,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def full_config(self) -> dict:
        """The agent's config with defaults filled in."""
        cls = agents.agent_class(self.agent).Config
        return agents.config_dict(agents.build_config(cls, self.agent_config, owner=self.agent))

    @property
    def env_label(self) -> str:
        return _label(self.env_name, self.env_kwargs)

    @property
    def env_family(self) -> str:
        rest = {k: v for k, v in self.env_kwargs.items() if k not in self.size_kwargs}
        return _label(self.env_name, rest)

    @property
    def env_name(self) -> str:
        """The id without namespace or module: ``standin/Lock-v0`` and ``my_module:Lock-v0`` → ``Lock-v0``."""
        return _env_name(self.env_id)

    @property
    def label(self) -> str:
        return self.agent_label or _label(self.agent, self.agent_config)

    @property
    def group(self) -> str:
        return self.agent_group or self.label

    @property
    def setting(self) -> str:
        return self.agent_setting or self.label

    @property
    def run_name(self) -> str:
        """TensorBoard run directory name: ``<env label>/<agent label>/seed<k>``, filesystem-safe."""
        return f"{safe_name(self.env_label)}/{safe_name(self.label)}/seed{self.seed}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Suite:
    name: str
    description: str
    trials: list[Trial]
    path: Path


def _label(name: str, kwargs: dict) -> str:
    parts = [f"{k}={_fmt(v)}" for k, v in kwargs.items()]
    return " ".join([name, *parts])


def _fmt(v) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1000:
        return f"{v:.0e}".replace("e+0", "e").replace("e+", "e")
    return str(v)


def _none(v):
    if isinstance(v, str) and v in NONE_STRINGS:
        return None
    if isinstance(v, list):
        return [_none(x) for x in v]
    return v


def _check_keys(table, allowed: dict, where: str):
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table, got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")


def _expand(base: dict, sweep: dict, where: str, base_key: str) -> list[dict]:
    if not isinstance(base, dict):
        raise ValueError(f"{where}: {base_key} must be a table, got {type(base).__name__}")
    if not isinstance(sweep, dict):
        raise ValueError(f"{where}: sweep must be a table of lists, got {type(sweep).__name__}")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: sweep.{key} must be a non-empty list, got {values!r}")
        if key in base:
            raise ValueError(f"{where}: {key!r} is both fixed and swept; keep one")
    keys = list(sweep)
    grid = itertools.product(*(_none(sweep[k]) for k in keys)) if keys else [()]
    return [{**{k: _none(v) for k, v in base.items()}, **dict(zip(keys, combo, strict=True))} for combo in grid]


def resolve(name_or_path: str) -> Path:
    """A suite name (``quick``) or a path to a ``.toml`` file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise ValueError(f"suite file not found: {p}")
        return p
    candidate = SUITES_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ValueError(f"unknown suite {name_or_path!r}; suites: {', '.join(names())} (or a path to a .toml file)")
    return candidate


def names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load(name_or_path: str, _including: tuple = ()) -> Suite:
    """Parse and validate a suite; every error names the file and the key."""
    path = resolve(name_or_path)
    if path.resolve() in _including:
        chain = " -> ".join(str(p) for p in (*_including, path.resolve()))
        raise ValueError(f"{path}: include cycle: {chain}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    where = str(path)
    _check_keys(data, SUITE_KEYS, where)
    name = data.get("name", path.stem)
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"{where}: seeds must be a non-empty list of integers >= 0 or a count, got {seeds!r}")
    budgets = data.get("train_steps", 0)
    if isinstance(budgets, list):
        if not budgets:
            raise ValueError(f"{where}: train_steps must be an integer >= 0 or a non-empty list of them, got []")
        budgets = sorted({_int(b, f"{where}: train_steps") for b in budgets})
    else:
        budgets = [_int(budgets, f"{where}: train_steps")]
    episodes = _int(data.get("eval_episodes", 100), f"{where}: eval_episodes", lo=1)
    default_limit = _seconds(data.get("time_limit"), f"{where}: time_limit")

    included = _included(data, path, where, (*_including, path.resolve()))
    own = [] if included and "envs" not in data and "agents" not in data else _own_trials(
        data, where, name, seeds, budgets, episodes, default_limit)
    ranks = 1 + max((t.agent_rank for t in own), default=-1)
    trials = own + [replace(t, suite=name, agent_rank=t.agent_rank + ranks) for t in included]
    return Suite(name=name, description=data.get("description", ""), trials=unique(trials), path=path)


def _included(data, path: Path, where: str, chain: tuple) -> list[Trial]:
    """The trials of every suite in ``include`` (names, or paths relative to this file)."""
    include = data.get("include", [])
    if not isinstance(include, list) or not all(isinstance(x, str) for x in include):
        raise ValueError(f"{where}: include must be a list of suite names or .toml paths, got {include!r}")
    trials = []
    for entry in include:
        local = path.parent / entry
        target = str(local) if entry.endswith(".toml") and local.is_file() else entry
        try:
            trials += load(target, chain).trials
        except ValueError as e:
            raise ValueError(f"{where}: include {entry!r}: {e}") from None
    return trials


def _own_trials(data, where, name, seeds, budgets, episodes, default_limit) -> list[Trial]:
    env_settings = []
    for w, table in _tables(data, "envs", ENV_KEYS, "id", where):
        for kwargs in _expand(table.get("kwargs", {}), table.get("sweep", {}), w, "kwargs"):
            try:
                env = envs.make(table["id"], **kwargs)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{w}: {e}") from None
            size_kwargs = tuple(getattr(env.unwrapped, "size_kwargs", ("n",)))
            env_type = type(env.unwrapped)  # what agents' defaults depend on (a landscape() or not)
            try:
                bits = log2_size(env.action_space)
            except (TypeError, ValueError):  # a space search can't size; the record says after the run
                bits = None
            env.close()
            env_settings.append((table["id"], kwargs, size_kwargs, env_type, bits))
    env_names = {_env_name(env_id) for env_id, *_ in env_settings} | {env_id for env_id, *_ in env_settings}

    settings = []
    for rank, (w, table) in enumerate(_tables(data, "agents", AGENT_KEYS, "name", where)):
        own_steps = None if "train_steps" not in table else _int(table["train_steps"], f"{w}: train_steps")
        limit = _seconds(table.get("time_limit", default_limit), f"{w}: time_limit")
        only = table.get("envs")
        if only is not None and (not isinstance(only, list) or not all(isinstance(e, str) for e in only)):
            raise ValueError(f"{w}: envs must be a list of env names or ids, got {only!r}")
        per_env = table.get("per_env", {})
        if not isinstance(per_env, dict) or not all(isinstance(v, dict) for v in per_env.values()):
            raise ValueError(f"{w}: per_env must be a table of tables (env name or id -> config fields)")
        for key in [*(only or []), *per_env]:
            if key not in env_names:
                raise ValueError(f"{w}: {key!r} names no env of this suite; envs: {', '.join(sorted(env_names))}")
        swept = set(table.get("sweep", {}))
        for key, fields in per_env.items():
            if swept & set(fields):
                raise ValueError(f"{w}: per_env.{key} sets {sorted(swept & set(fields))}, which are swept; keep one")
        for config in _expand(table.get("config", {}), table.get("sweep", {}), w, "config"):
            label = base = table.get("label", "")
            if label and swept:  # keep labels unique across the swept settings
                label = _label(label, {k: config[k] for k in table["sweep"]})
            # the group: the label without a swept budget (the anytime curves' x axis)
            group = _label(base, {k: config[k] for k in table.get("sweep", {}) if k != COMPUTE_KEY}) if base \
                else _label(table["name"], {k: v for k, v in config.items() if not (k == COMPUTE_KEY and k in swept)})
            settings.append((w, rank, table["name"], config, own_steps, label, limit, only, per_env, group))

    trials = []
    for env_id, env_kwargs, size_kwargs, env_type, bits in env_settings:
        keys = (env_id, _env_name(env_id))
        for w, rank, agent, config, own_steps, label, limit, only, per_env, group in settings:
            if only is not None and not any(k in only for k in keys):
                continue
            override = {k: _none(v) for key in keys for k, v in per_env.get(key, {}).items()}
            setting = {**config, **override}
            try:
                learns = agents.trains(agent, setting, env_type)
            except ValueError as e:
                raise ValueError(f"{w}: {e}") from None
            # an override keeps the agent's label, so it stays one line across env families
            shown = label or (_label(agent, config) if override else "")
            if own_steps is not None:
                steps_list, swept = [own_steps], False
            else:
                steps_list, swept = (budgets, len(budgets) > 1) if learns else ([0], False)
            for steps in steps_list:
                # a swept training budget is part of the label: each budget is its own line in tables
                shown_at = _label(shown or _label(agent, config), {"steps": _steps(steps)}) if swept else shown
                group_at = _label(group, {"steps": _steps(steps)}) if swept else group
                trials += [Trial(name, env_id, env_kwargs, agent, setting, seed, steps, episodes, shown_at,
                                 size_kwargs, rank, limit, group_at, shown or _label(agent, config), bits)
                           for seed in seeds]
    return trials


def _steps(steps: int) -> str:
    """A training budget as a label shows it: ``20000`` → ``20k``, ``1000000`` → ``1M``."""
    for unit, size in (("M", 10**6), ("k", 10**3)):
        if steps >= size and steps % (size // 10) == 0:
            return f"{steps / size:g}{unit}"
    return str(steps)


def _env_name(env_id: str) -> str:
    """``standin/Lock-v0`` and ``my_module:Lock-v0`` → ``Lock-v0``."""
    return env_id.split(":")[-1].split("/")[-1]


def _seconds(value, where):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{where} must be a number of seconds > 0, got {value!r}")
    return float(value)


def unique(trials: list[Trial]) -> list[Trial]:
    """``trials`` in order, without repeats of an identity (e.g. ``seeds = [0, 0]``)."""
    seen: set[str] = set()
    out = []
    for t in trials:
        if t.trial_id not in seen:
            seen.add(t.trial_id)
            out.append(t)
    return out


def _tables(data, key, allowed, required, where):
    """Yield ``(where, table)`` for each ``[[key]]`` table, checked for unknown and missing keys."""
    for i, table in enumerate(_array(data, key, where)):
        w = f"{where}: {key}[{i}]"
        _check_keys(table, allowed, w)
        if required not in table:
            raise ValueError(f"{w}: missing key {required!r}")
        yield w, table


def _array(data, key, where):
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: needs at least one [[{key}]] table")
    return value


def _int(value, where, lo=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{where} must be an integer >= {lo}, got {value!r}")
    return value


__all__ = ["Suite", "Trial", "load", "names", "resolve"]
