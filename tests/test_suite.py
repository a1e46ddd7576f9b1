"""benchmarks.suite: sweep expansion, seeds, overrides, trial ids, and errors that name file and key."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import sys

import pytest

from standin.benchmarks import suite
from standin.benchmarks.suite import Trial

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV = 'id = "standin/Landscape-v0"'


def write_suite(tmp_path, text: str, name: str = "tiny"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def load_text(tmp_path, text: str, name: str = "tiny"):
    return suite.load(str(write_suite(tmp_path, text, name)))


# ------------------------------------------------------------------------------------- parsing


def test_sweeps_expand_as_a_cross_product(tmp_path):
    s = load_text(tmp_path, f"""
seeds = [0, 1]
eval_episodes = 3
[[envs]]
{ENV}
kwargs = {{ context_dim = 4 }}
sweep = {{ n = [4, 6], alpha = [0.5, 2.0] }}
[[agents]]
name = "random"
[[agents]]
name = "value-search"
config = {{ value = "oracle" }}
sweep = {{ budget = [10, 20, 30], method = ["random", "anneal"] }}
""")
    # 4 env settings x (1 + 6) agent settings x 2 seeds
    assert len(s.trials) == 4 * 7 * 2
    assert s.name == "tiny"
    assert {(t.env_kwargs["n"], t.env_kwargs["alpha"]) for t in s.trials} == set(
        itertools.product([4, 6], [0.5, 2.0]))
    assert all(t.env_kwargs["context_dim"] == 4 for t in s.trials)  # fixed kwargs kept in every setting
    vs = [t for t in s.trials if t.agent == "value-search"]
    assert len(vs) == 4 * 6 * 2
    assert {(t.agent_config["budget"], t.agent_config["method"]) for t in vs} == set(
        itertools.product([10, 20, 30], ["random", "anneal"]))
    assert all(t.agent_config["value"] == "oracle" for t in vs)
    assert all(t.agent_config == {} for t in s.trials if t.agent == "random")
    assert all(t.eval_episodes == 3 for t in s.trials)
    # every (env setting, agent setting, seed) exactly once
    assert len({t.trial_id for t in s.trials}) == len(s.trials)


def test_none_strings_become_none_in_kwargs_configs_and_sweeps(tmp_path):
    s = load_text(tmp_path, f"""
[[envs]]
{ENV}
kwargs = {{ n = 4 }}
sweep = {{ alpha = [0.5, "none"] }}
[[envs]]
{ENV}
kwargs = {{ n = 6, alpha = "None" }}
[[agents]]
name = "value-search"
config = {{ train_budget = "none" }}
sweep = {{ budget = [5] }}
""")
    alphas = [t.env_kwargs["alpha"] for t in s.trials]
    assert alphas == [0.5, None, None]
    assert all(t.agent_config["train_budget"] is None for t in s.trials)
    assert s.trials[0].full_config["train_budget"] is None


def test_integer_seeds_mean_a_count(tmp_path):
    s = load_text(tmp_path, f"""
seeds = 3
[[envs]]
{ENV}
kwargs = {{ n = 4 }}
[[agents]]
name = "random"
""")
    assert [t.seed for t in s.trials] == [0, 1, 2]


def test_default_seed_and_episodes(tmp_path):
    s = load_text(tmp_path, f'[[envs]]\n{ENV}\nkwargs = {{ n = 4 }}\n[[agents]]\nname = "random"\n')
    assert [(t.seed, t.eval_episodes, t.train_steps) for t in s.trials] == [(0, 100, 0)]


def test_the_suite_budget_goes_to_every_learner_and_an_agent_can_override_it(tmp_path):
    s = load_text(tmp_path, f"""
train_steps = 50
[[envs]]
{ENV}
kwargs = {{ n = 4 }}
[[agents]]
name = "random"
[[agents]]
name = "ppo"
[[agents]]
name = "value-search"
label = "oracle value"
config = {{ value = "oracle" }}
[[agents]]
name = "value-search"
label = "learned"
config = {{ value = "quadratic" }}
[[agents]]
name = "propose-search"
label = "online proposal"
config = {{ value = "oracle", proposal = "online" }}
[[agents]]
name = "oracle"
train_steps = 7
""")
    steps = {t.label: t.train_steps for t in s.trials}
    assert steps == {"random": 0, "ppo": 50, "oracle value": 0, "learned": 50, "online proposal": 50, "oracle": 7}


def test_a_list_of_budgets_sweeps_every_learner_and_labels_each_budget(tmp_path):
    s = load_text(tmp_path, f"""
train_steps = [200000, 20000]
seeds = 2
[[envs]]
{ENV}
kwargs = {{ n = 4 }}
[[agents]]
name = "random"
[[agents]]
name = "ppo"
[[agents]]
name = "distill"
label = "student"
sweep = {{ rounds = [2, 4] }}
""")
    runs = {(t.label, t.train_steps) for t in s.trials}
    assert runs == {("random", 0), ("ppo steps=20k", 20000), ("ppo steps=200k", 200000),
                    ("student rounds=2 steps=20k", 20000), ("student rounds=2 steps=200k", 200000),
                    ("student rounds=4 steps=20k", 20000), ("student rounds=4 steps=200k", 200000)}
    assert len(s.trials) == 2 * len(runs)
    settings = {t.label: t.setting for t in s.trials}
    assert settings["ppo steps=20k"] == settings["ppo steps=200k"] == "ppo"
    assert settings["student rounds=4 steps=20k"] == "student rounds=4"
    assert {t.group for t in s.trials if t.agent == "ppo"} == {"ppo steps=20k", "ppo steps=200k"}
    assert len({t.trial_id for t in s.trials}) == len(s.trials)


@pytest.mark.parametrize("value", ["[]", "[100, -1]", "1.5", '"lots"'])
def test_a_bad_budget_names_the_key(tmp_path, value):
    with pytest.raises(ValueError, match="train_steps"):
        load_text(tmp_path, f'train_steps = {value}\n[[envs]]\n{ENV}\nkwargs = {{ n = 4 }}\n[[agents]]\nname = "ppo"\n')


def test_packaged_suites_give_every_learner_of_a_comparison_the_same_budget():
    """In each packaged suite, the learners of each env setting are trained at the same budgets."""
    from standin import agents

    for name in suite.names():
        s = suite.load(name)
        budgets = {}  # (env setting, seed) -> learner setting -> its training budgets
        for t in s.trials:
            if agents.trains(t.agent, t.agent_config):
                budgets.setdefault((t.env_label, t.seed), {}).setdefault(t.setting, set()).add(t.train_steps)
            else:
                assert t.train_steps == 0, (name, t.label)
        for where, learners in budgets.items():
            assert len({frozenset(b) for b in learners.values()}) == 1, (name, where, learners)


def test_agent_label_from_suite_keys_or_explicit(tmp_path):
    s = load_text(tmp_path, f"""
[[envs]]
{ENV}
kwargs = {{ n = 4 }}
[[agents]]
name = "value-search"
config = {{ budget = 10 }}
[[agents]]
name = "oracle"
label = "the oracle"
""")
    assert [t.label for t in s.trials] == ["value-search budget=10", "the oracle"]
    assert s.trials[0].env_label == "Landscape-v0 n=4"
    assert s.trials[0].env_family == "Landscape-v0"


# ------------------------------------------------------------------------------------- trial ids


TIDY = f"""
seeds = [0, 1]
[[envs]]
{ENV}
sweep = {{ n = [4, 6] }}
kwargs = {{ alpha = 0.5, context_dim = 3 }}
[[agents]]
name = "value-search"
config = {{ method = "anneal", budget = 10 }}
"""
REORDERED = f"""
seeds = [0, 1]
[[envs]]
kwargs = {{ context_dim = 3, alpha = 0.5 }}
sweep = {{ n = [4, 6] }}
{ENV}
[[agents]]
config = {{ budget = 10, method = "anneal" }}
name = "value-search"
"""


def test_trial_id_is_stable_across_loads_and_key_order(tmp_path):
    a = [t.trial_id for t in load_text(tmp_path, TIDY, "a").trials]
    again = [t.trial_id for t in load_text(tmp_path, TIDY, "a").trials]
    reordered = [t.trial_id for t in load_text(tmp_path, REORDERED, "b").trials]
    assert a == again == reordered
    assert all(re.fullmatch(r"[0-9a-f]{16}", tid) for tid in a)
    assert len(set(a)) == 4


def test_trial_id_differs_when_any_identity_field_differs():
    base = Trial("s", "standin/Landscape-v0", {"n": 4}, "value-search", {"budget": 10}, 0, 0, 5)
    changes = {
        "env_id": "standin/Other-v0",
        "env_kwargs": {"n": 5},
        "agent": "random",
        "agent_config": {"budget": 11},
        "seed": 1,
        "train_steps": 1,
        "eval_episodes": 6,
    }
    ids = {base.trial_id}
    for name, value in changes.items():
        other = dataclasses.replace(base, **{name: value})
        assert other.trial_id != base.trial_id, name
        ids.add(other.trial_id)
    assert len(ids) == len(changes) + 1
    # not part of the identity: the suite's name and the display label
    assert dataclasses.replace(base, suite="other", agent_label="x").trial_id == base.trial_id
    assert dataclasses.replace(base, env_kwargs={"n": 4, "alpha": None}).trial_id != base.trial_id


# ------------------------------------------------------------------------------------- errors

GOOD_ENV = f"[[envs]]\n{ENV}\nkwargs = {{ n = 4 }}\n"
GOOD_AGENT = '[[agents]]\nname = "random"\n'

MALFORMED = {
    "unknown_top_level_key": ('colour = "red"\n' + GOOD_ENV + GOOD_AGENT, "colour"),
    "unknown_env_key": (GOOD_ENV + "wrapper = 1\n" + GOOD_AGENT, "wrapper"),
    "unknown_agent_key": (GOOD_ENV + GOOD_AGENT + "steps = 5\n", "steps"),
    "missing_env_id": ("[[envs]]\nkwargs = { n = 4 }\n" + GOOD_AGENT, "'id'"),
    "missing_agent_name": (GOOD_ENV + "[[agents]]\nconfig = {}\n", "'name'"),
    "unknown_env_id": ('[[envs]]\nid = "standin/Nope-v0"\n' + GOOD_AGENT, "standin/Nope-v0"),
    "unknown_agent_name": (GOOD_ENV + '[[agents]]\nname = "telepath"\n', "telepath"),
    "unknown_agent_config_field": (GOOD_ENV + '[[agents]]\nname = "value-search"\nconfig = { bugdet = 3 }\n',
                                   "bugdet"),
    "mistyped_agent_config_field": (GOOD_ENV + '[[agents]]\nname = "value-search"\nconfig = { budget = "x" }\n',
                                    "budget"),
    "env_kwarg_out_of_range": (f"[[envs]]\n{ENV}\nkwargs = {{ n = 0 }}\n" + GOOD_AGENT, "n must be"),
    "swept_env_kwarg_out_of_range": (f"[[envs]]\n{ENV}\nsweep = {{ n = [4, 0] }}\n" + GOOD_AGENT, "n must be"),
    "unknown_env_kwarg": (f"[[envs]]\n{ENV}\nkwargs = {{ m = 4 }}\n" + GOOD_AGENT, "'m'"),
    "fixed_and_swept": (f"[[envs]]\n{ENV}\nkwargs = {{ n = 4 }}\nsweep = {{ n = [4, 6] }}\n" + GOOD_AGENT,
                        "'n' is both fixed and swept"),
    "fixed_and_swept_agent": (GOOD_ENV + '[[agents]]\nname = "value-search"\nconfig = { budget = 3 }\n'
                              "sweep = { budget = [3, 4] }\n", "'budget' is both fixed and swept"),
    "empty_sweep_list": (f"[[envs]]\n{ENV}\nsweep = {{ n = [] }}\n" + GOOD_AGENT, "sweep.n"),
    "negative_seed": ("seeds = [0, -1]\n" + GOOD_ENV + GOOD_AGENT, "seeds"),
    "zero_eval_episodes": ("eval_episodes = 0\n" + GOOD_ENV + GOOD_AGENT, "eval_episodes"),
    "negative_agent_train_steps": (GOOD_ENV + GOOD_AGENT + "train_steps = -1\n", "train_steps"),
    "no_agents": (GOOD_ENV, "[[agents]]"),
    "no_envs": (GOOD_AGENT, "[[envs]]"),
    "invalid_toml": ("[[envs]\nid = \n", "not valid TOML"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_suite_names_file_and_key(tmp_path, case):
    text, key = MALFORMED[case]
    path = write_suite(tmp_path, text)
    with pytest.raises(ValueError) as err:
        suite.load(str(path))
    message = str(err.value)
    assert str(path) in message
    assert key in message


def test_env_kwargs_not_a_table_is_a_value_error_naming_file_and_key(tmp_path):
    """BUG: ``kwargs = 5`` in [[envs]] raises AttributeError ('int' object has no attribute 'items')."""
    path = write_suite(tmp_path, f"[[envs]]\n{ENV}\nkwargs = 5\n" + GOOD_AGENT)
    with pytest.raises(ValueError) as err:
        suite.load(str(path))
    assert str(path) in str(err.value) and "kwargs" in str(err.value)


def test_agent_config_not_a_table_is_a_value_error_naming_file_and_key(tmp_path):
    """BUG: ``config = "x"`` in [[agents]] raises AttributeError ('str' object has no attribute 'items')."""
    path = write_suite(tmp_path, GOOD_ENV + '[[agents]]\nname = "value-search"\nconfig = "budget=3"\n')
    with pytest.raises(ValueError) as err:
        suite.load(str(path))
    assert str(path) in str(err.value) and "config" in str(err.value)


# ------------------------------------------------------------------------------------- finding suites


def test_resolve_finds_packaged_suite():
    path = suite.resolve("quick")
    assert path == suite.SUITES_DIR / "quick.toml" and path.is_file()
    assert {"quick", "smoke"} <= set(suite.names())


def test_resolve_accepts_a_path(tmp_path):
    path = write_suite(tmp_path, GOOD_ENV + GOOD_AGENT, "mine")
    assert suite.resolve(str(path)) == path
    assert suite.load(str(path)).name == "mine"


def test_unknown_suite_name_lists_available_suites():
    with pytest.raises(ValueError) as err:
        suite.resolve("no-such-suite")
    message = str(err.value)
    assert "no-such-suite" in message
    for name in suite.names():
        assert name in message


def test_missing_toml_path_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        suite.load(str(tmp_path / "absent.toml"))


def test_resolve_name_ignores_a_directory_of_the_same_name_in_cwd(tmp_path, monkeypatch):
    """BUG: with a directory ``./quick`` in the working directory (e.g. ``standin bench quick --out quick``),
    ``resolve("quick")`` raises "suite file not found: quick" instead of finding the packaged suite."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").mkdir()
    assert suite.resolve("quick") == suite.SUITES_DIR / "quick.toml"


# ------------------------------------------------------------------------------------- packaged suites


def expected_trial_count(path) -> int:
    """Trials a suite file implies: for each env table, its sweep size x the settings of the agents
    that run on it (every agent, unless its ``envs`` list leaves the env out; a setting that learns
    runs once per training budget) x seeds, plus the trials of the suites it includes (none of the
    packaged suites repeat an included trial)."""
    from standin import agents

    data = tomllib.loads(path.read_text())
    seeds = data.get("seeds", [0])
    n_seeds = seeds if isinstance(seeds, int) else len(seeds)
    budgets = data.get("train_steps", 0)
    n_budgets = len(budgets) if isinstance(budgets, list) else 1

    def size(table):
        return math.prod(len(v) for v in table.get("sweep", {}).values())

    def settings(agent):
        sweep = agent.get("sweep", {})
        total = 0
        for combo in itertools.product(*sweep.values()):
            config = {**agent.get("config", {}), **dict(zip(sweep, combo, strict=True))}
            learns = "train_steps" not in agent and agents.trains(agent["name"], config)
            total += n_budgets if learns else 1
        return total

    def runs_on(agent, env_id):
        return "envs" not in agent or env_id in agent["envs"] or env_id.split("/")[-1] in agent["envs"]

    included = sum(expected_trial_count(suite.resolve(name)) for name in data.get("include", []))
    return included + n_seeds * sum(size(env) * sum(settings(a) for a in data["agents"] if runs_on(a, env["id"]))
                                    for env in data["envs"])


@pytest.mark.parametrize("name", suite.names())
def test_packaged_suite_loads_with_the_trial_count_its_file_implies(name):
    s = suite.load(name)
    assert s.name == name and s.description
    assert len(s.trials) == expected_trial_count(s.path)
    assert len({t.trial_id for t in s.trials}) == len(s.trials)
    for t in s.trials:
        t.full_config  # every agent config builds  # noqa: B018


# ------------------------------------------------------------------- include, per-env overrides


def test_include_runs_the_other_suites_trials_under_this_suites_name(tmp_path):
    write_suite(tmp_path, f"""
seeds = [0]
[[envs]]
{ENV}
kwargs = {{ n = 6 }}
[[agents]]
name = "random"
""", name="base")
    s = load_text(tmp_path, f"""
name = "more"
include = ["base.toml"]
seeds = [0]
[[envs]]
{ENV}
kwargs = {{ n = 8 }}
[[agents]]
name = "oracle"
""")
    got = [(t.suite, t.env_kwargs["n"], t.agent, t.agent_rank) for t in s.trials]
    assert got == [("more", 8, "oracle", 0), ("more", 6, "random", 1)]
    base = suite.load(str(tmp_path / "base.toml")).trials[0]
    assert s.trials[1].trial_id == base.trial_id  # the same trial: a run of either suite shares it
    only = load_text(tmp_path, 'include = ["base.toml"]', name="alias")  # a suite may be only includes
    assert [t.trial_id for t in only.trials] == [base.trial_id]


def test_include_errors_name_the_entry_and_catch_cycles(tmp_path):
    with pytest.raises(ValueError, match=r"include 'nowhere'.*unknown suite"):
        load_text(tmp_path, 'include = ["nowhere"]')
    write_suite(tmp_path, 'include = ["b.toml"]', name="a")
    write_suite(tmp_path, 'include = ["a.toml"]', name="b")
    with pytest.raises(ValueError, match="include cycle"):
        suite.load(str(tmp_path / "a.toml"))
    with pytest.raises(ValueError, match="include must be a list"):
        load_text(tmp_path, 'include = "a.toml"')


def test_per_env_overrides_apply_on_their_env_only_and_keep_the_label(tmp_path):
    s = load_text(tmp_path, """
[[envs]]
id = "standin/Landscape-v0"
kwargs = { n = 6 }
[[envs]]
id = "standin/Swarm-v0"
kwargs = { N = 2, G = 5 }
[[agents]]
name = "value-search"
config = { value = "oracle", budget = 50 }
per_env = { "Swarm-v0" = { value = "heuristic" } }
""")
    by_env = {t.env_id: t for t in s.trials}
    assert by_env["standin/Landscape-v0"].agent_config == {"value": "oracle", "budget": 50}
    assert by_env["standin/Swarm-v0"].agent_config == {"value": "heuristic", "budget": 50}
    label = "value-search value=oracle budget=50"
    assert by_env["standin/Swarm-v0"].label == by_env["standin/Landscape-v0"].label == label


def test_an_agent_can_be_limited_to_some_envs(tmp_path):
    s = load_text(tmp_path, """
[[envs]]
id = "standin/Landscape-v0"
kwargs = { n = 6 }
[[envs]]
id = "standin/Lock-v0"
kwargs = { n = 6 }
[[agents]]
name = "random"
[[agents]]
name = "oracle"
envs = ["standin/Lock-v0"]
""")
    assert [(t.env_name, t.agent) for t in s.trials] == [("Landscape-v0", "random"), ("Lock-v0", "random"),
                                                         ("Lock-v0", "oracle")]


@pytest.mark.parametrize("agent_table,match", [
    ('per_env = { "Knapsack-v0" = { budget = 5 } }', "'Knapsack-v0' names no env of this suite"),
    ('envs = ["Lock-v0"]', "'Lock-v0' names no env of this suite"),
    ('envs = "Landscape-v0"', "envs must be a list"),
    ('per_env = { "Landscape-v0" = 3 }', "per_env must be a table of tables"),
    ('sweep = { budget = [5, 6] }\nper_env = { "Landscape-v0" = { budget = 7 } }',
     r"sets \['budget'\], which are swept"),
    ('per_env = { "Landscape-v0" = { budget = -1 } }', "budget"),
    ("time_limit = 0", "time_limit must be a number of seconds > 0"),
])
def test_bad_overrides_name_the_key(tmp_path, agent_table, match):
    with pytest.raises(ValueError, match=match):
        load_text(tmp_path, f"""
[[envs]]
{ENV}
kwargs = {{ n = 6 }}
[[agents]]
name = "value-search"
config = {{ value = "oracle" }}
{agent_table}
""")


def test_time_limit_comes_from_the_agent_or_the_suite_and_leaves_the_identity_alone(tmp_path):
    text = f"""
{{limit}}
[[envs]]
{ENV}
kwargs = {{{{ n = 6 }}}}
[[agents]]
name = "random"
[[agents]]
name = "oracle"
time_limit = 2.5
"""
    s = load_text(tmp_path, text.format(limit="time_limit = 60"))
    assert [t.time_limit for t in s.trials] == [60.0, 2.5]
    plain = load_text(tmp_path, text.format(limit=""), name="plain")
    assert [t.time_limit for t in plain.trials] == [None, 2.5]
    assert [t.trial_id for t in s.trials] == [t.trial_id for t in plain.trials]


def test_a_swept_budget_is_one_group_other_sweeps_are_not(tmp_path):
    text = f"""
[[envs]]
{ENV}
kwargs = {{ n = 4 }}
[[agents]]
name = "value-search"
label = "oracle value"
sweep = {{ method = ["anneal", "cem"], budget = [10, 100] }}
[[agents]]
name = "value-search"
config = {{ value = "oracle" }}
sweep = {{ budget = [10, 100] }}
[[agents]]
name = "random"
"""
    trials = load_text(tmp_path, text).trials
    groups = {t.label: t.group for t in trials}
    assert groups["oracle value method=anneal budget=10"] == groups["oracle value method=anneal budget=100"] \
        == "oracle value method=anneal"
    assert groups["oracle value method=cem budget=10"] == "oracle value method=cem"
    assert groups["value-search value=oracle budget=10"] == groups["value-search value=oracle budget=100"] \
        == "value-search value=oracle"
    assert groups["random"] == "random"
