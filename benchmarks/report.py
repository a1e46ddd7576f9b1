"""A suite's report, computed from its ``results.jsonl`` alone.

``write_report(run_dir)`` reads ``run_dir/results.jsonl`` (one JSON object per finished trial, see
``docs/results.md``) and writes ``run_dir/report.md``, the same content as one self-contained
``run_dir/report.html`` (figures embedded as base64), and PNG figures next to them. Every number and
figure is computed from the records; nothing is typed in by hand. This module reads and groups the
records, computes the statistics and the crossover, and writes the markdown; ``benchmarks.figures`` draws
the figures, ``benchmarks.report_html`` turns the markdown into ``report.html``, and ``benchmarks.cells``
holds ``Cell``, the (environment, agent setting) group that the tables and the figures share. ``report.md``
holds, each section only when the records hold what it shows:

1. a provenance header (suite, standin version, git commit, machine) and a list of the figures;
2. **Where search falls below the policies**: the crossover table (below), with a training-budget column
   when the suite swept the budget;
3. **How the crossover moves with the training budget** (a swept budget only): per family, each search
   setting's crossover at each budget, as a table and ``crossover_vs_budget.png``;
4. **Results**: one row per (environment, agent setting), with notes on the reference values;
5. **What training spent**: each learning group's mean environment steps, gradient steps, search
   evaluations and seconds in training (equal environment steps, unequal compute);
6. **Scaling with the action space**: ``normalized_return_vs_log2A.png`` and
   ``optimal_rate_vs_log2A.png``, each agent's mean over seeds against ``log2 |A|`` with 95% bootstrap
   bands, one panel per environment family (a family run at one size is a single point);
7. **Sample efficiency** (a swept budget only): ``sample_efficiency.png``, normalised return against the
   training budget, one line per ``agent_setting`` that learns, one panel per environment, the agents
   that do not learn as horizontal lines; and the table of normalised return by training budget;
8. **Aggregate over tasks**: each agent's IQM with its interval (table and ``iqm.png``) and the
   probability of improvement of each search setting over each policy (of every pair when the suite
   lacks one of the two kinds), on the tasks both ran;
9. **Anytime**: ``anytime.png``, normalised return against evaluations per decision for each search
   ``agent_group`` run at two or more settings (a budget sweep) in an environment, with the policies and
   references of that environment as horizontal lines labelled with their decision time;
10. **Compute against quality**: ``pareto.png``, decision ms against normalised return per environment,
    with the Pareto front of the search and policy settings (references such as an oracle that knows the
    optimum are drawn but left off it), and the fronts as a table;
11. **Why learned value + search falls short**: the shortfall split, as a table and ``shortfall_split.png``,
    with how well the learned value fits the reward (``fit_error_uniform``, ``fit_error_search``,
    ``overestimation``) where the trials measured it;
12. **Distilled students against their teachers**;
13. **Failure rates** (envs that report catastrophes): per group, failures per decision pooled over seeds
    with exact 95% upper bounds, labels spent and the adversary's finds per query; ``frontier.png``, the
    conservativeness frontier (failure rate against quality as a filter's threshold sweeps, the
    unfiltered generator and the constrained optimum marked); what filtering costs per environment
    and generator (failure rates of a uniform action and of the unfiltered generator, the safest
    learned filter's rate, quality and accepted share); and a fresh adversary's failures per query round by round of
    adversarial training;
14. **Learning curves**: ``learning_curves.png``, the training episode return of the records'
    ``learning_curve`` (mean over seeds on their common steps), normalised with the trial's evaluation
    ``random_return`` and ``optimal_return`` where every trial of the panel has them, else raw;
15. failed trials, and a per-family summary of each agent's mean at each size.

Figures with a panel per environment draw at most ``benchmarks.figures.MAX_PANELS`` of them (and say so).

Grouping. Only trials with status ``"ok"`` enter tables and figures; failed trials are listed apart.
When a trial id appears on several lines (a rerun), its last line counts. Trials that share
``env_label`` and ``agent_label`` form a group (one setting on one environment, over seeds). An agent's
*kind* is the record's ``agent_kind`` (``policy``, ``search``, ``reference`` or null); records written
before that field existed take it from the agent class (``agents.agent_class(agent).kind``). Its
*group* is ``agent_group``, else ``agent_label``. Its *setting* is ``agent_setting`` (the label without a
swept training budget, ``steps=…``), else ``agent_label``, and its *training budget* is
``metrics.train_budget``, else the record's ``train_steps``: an agent that learns has a budget above 0.

Statistics (see ``benchmarks.stats`` for the definitions):

- The results, split and distillation tables show each group's mean over seeds ± the half-width of
  its 95% Student-t interval, ``t.ppf(0.975, k - 1) * std(ddof=1) / sqrt(k)`` for ``k`` seeds (n/a
  for a single seed). With the 2 to 5 seeds of a typical suite this is the cautious interval.
- Figures and the crossover table use the 95% percentile bootstrap interval of the mean over seeds
  (``stats.mean_ci``; none for a single seed). The aggregate uses rliable's conventions: tasks are the
  environments with a normalised return, runs their seeds; the IQM with a stratified bootstrap interval
  (``stats.iqm_ci``) and the probability of improvement (``stats.poi_ci``). All use ``stats.REPS``
  replicates and a fixed seed, so a report is reproducible byte for byte.
- The crossover of a search setting in a family is the smallest ``log2 |A|`` at which the upper end of
  its interval lies below the lower end of the interval of the best policy (highest mean normalised
  return among agents of kind ``policy``) at that size; a size where either has a single seed cannot
  count. "None in range" names the sizes compared. It is found at equal training budgets: at each budget
  of the agents that learn, the search settings and policies trained for it, with the agents that do
  not learn (budget 0) taking part at every budget.
"""

from __future__ import annotations

import functools
import math
import pathlib
import re
from collections import Counter
from typing import NamedTuple

import numpy as np
from scipy import stats as _scipy_stats

from standin.benchmarks import stats
from standin.benchmarks.cells import Cell, fmt_sig3, front_of, metric_values, nest_by
from standin.benchmarks.figures import (
    agent_styles,
    anytime_data,
    cap_panels,
    learning_data,
    plot_anytime,
    plot_crossover_budget,
    plot_frontier,
    plot_iqm,
    plot_learning,
    plot_pareto,
    plot_sample_efficiency,
    plot_scaling,
    plot_split,
    sample_efficiency_data,
)
from standin.benchmarks.records import load_results
from standin.benchmarks.report_html import markdown_to_html

FIGURE_NAME = "normalized_return_vs_log2A.png"
"""File name of the scaling figure (normalised return against log2 |A|), written next to ``report.md``."""
OPTIMAL_RATE_FIGURE = "optimal_rate_vs_log2A.png"
IQM_FIGURE = "iqm.png"
ANYTIME_FIGURE = "anytime.png"
PARETO_FIGURE = "pareto.png"
SPLIT_FIGURE = "shortfall_split.png"
LEARNING_FIGURE = "learning_curves.png"
CROSSOVER_BUDGET_FIGURE = "crossover_vs_budget.png"
SAMPLE_EFFICIENCY_FIGURE = "sample_efficiency.png"
FRONTIER_FIGURE = "frontier.png"
FIGURES = (FIGURE_NAME, OPTIMAL_RATE_FIGURE, IQM_FIGURE, ANYTIME_FIGURE, PARETO_FIGURE, SPLIT_FIGURE,
           LEARNING_FIGURE, CROSSOVER_BUDGET_FIGURE, SAMPLE_EFFICIENCY_FIGURE, FRONTIER_FIGURE)
"""Every figure a report may write; one left from an earlier report that this one does not draw is removed."""
HTML_NAME = "report.html"

_REQUIRED_OK_KEYS = ("env_label", "env_family", "log2_actions", "agent_label", "seed", "metrics")
_REQUIRED_METRICS = ("return", "decision_ms", "evaluations_per_decision")
"""``normalized_return`` may be null: an environment without reference values (``optimal_value``,
``random_value``) has a raw return only, and the report shows that and leaves it out of the figures."""

_MAX_PAIRS = 45
"""The probability-of-improvement table lists at most this many agent pairs."""


class Summary(NamedTuple):
    """Mean of ``n`` values with the half-width of its 95% Student-t interval (NaN when ``n == 1``)."""

    mean: float
    half_width: float
    n: int


# ---------------------------------------------------------------------------------------------
# Reading


def latest_per_trial(records: list[dict]) -> list[dict]:
    """One record per ``trial_id``: the last line written for it, in order of first appearance.

    (A record without a ``trial_id`` is kept as it is.)
    """
    latest: dict[str, dict] = {}
    for record in records:
        latest[record.get("trial_id", id(record))] = record
    return list(latest.values())


def _check_ok_record(record: dict, where: str) -> None:
    """Raise ValueError, naming the file and trial, if an ok record lacks what the report needs."""
    for key in _REQUIRED_OK_KEYS:
        if key not in record:
            raise ValueError(f"{where}: ok trial {record.get('trial_id')!r} lacks the key {key!r}")
    metrics = record["metrics"]
    for key in _REQUIRED_METRICS:
        if not isinstance(metrics, dict) or metrics.get(key) is None:
            raise ValueError(f"{where}: ok trial {record.get('trial_id')!r} lacks metrics.{key}")


@functools.cache
def _class_kind(name) -> str | None:
    """``kind`` of the agent class registered as ``name``; None for an unknown or unimportable agent."""
    if not isinstance(name, str):
        return None
    try:
        from standin import agents

        return getattr(agents.agent_class(name), "kind", None)
    except Exception:  # an agent of another version, or one whose module cannot load here
        return None


def agent_kind(record: dict) -> str | None:
    """``policy``, ``search``, ``reference`` or None: the record's ``agent_kind``, or for records written
    before that field, the ``kind`` of the agent class named by ``agent``."""
    if "agent_kind" in record:
        return record["agent_kind"]
    return _class_kind(record.get("agent"))


def agent_group(record: dict) -> str:
    """The record's ``agent_group`` (its label without swept values), else its ``agent_label``."""
    return record.get("agent_group") or record["agent_label"]


def agent_setting(record: dict) -> str:
    """The record's ``agent_setting`` (its label without a swept training budget), else its ``agent_label``."""
    return record.get("agent_setting") or record["agent_label"]


def train_budget(record: dict) -> int:
    """The trial's training budget in environment steps: ``metrics.train_budget``, else (records written
    before that field) the record's ``train_steps``, else 0."""
    budget = (record.get("metrics") or {}).get("train_budget")
    if budget is None:
        budget = record.get("train_steps") or 0
    return int(budget)


# ---------------------------------------------------------------------------------------------
# Statistics


def summarize(values) -> Summary:
    """Mean, 95% Student-t half-width over the values (seeds) and their number.

    E.g. ``[0.5, 0.7, 0.9]`` gives mean 0.7 and half-width ``t(0.975, 2) * 0.2 / sqrt(3) ≈ 0.4968``.
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("summarize: no values")
    n = int(x.size)
    if n == 1:
        return Summary(float(x[0]), math.nan, 1)
    half = _scipy_stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return Summary(float(x.mean()), float(half), n)


def group_trials(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Ok trials grouped by ``(env_label, agent_label)``, each group holding its seeds' records.

    Keys are ordered for the table: environments by ``env_family`` then ``log2_actions`` (then
    label), agents by their position in the suite (``agent_rank``), then by first appearance.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    agent_rank: dict[str, tuple] = {}
    for i, r in enumerate(ok):
        key = (r.get("agent_rank", math.inf), i)
        agent_rank[r["agent_label"]] = min(agent_rank.get(r["agent_label"], key), key)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in ok:
        groups.setdefault((r["env_label"], r["agent_label"]), []).append(r)

    def order(key):
        first = groups[key][0]
        return (first["env_family"], float(first["log2_actions"]), key[0], agent_rank[key[1]])

    return {key: groups[key] for key in sorted(groups, key=order)}


def _cells(groups) -> list[Cell]:
    """A Cell per group, in table order."""
    cells = []
    for (env, agent), group in groups.items():
        norm, rate = metric_values(group, "normalized_return"), metric_values(group, "optimal_rate")
        first = group[0]
        cells.append(Cell(
            env=env, family=first["env_family"], log2=float(first["log2_actions"]), agent=agent,
            kind=agent_kind(first), group=agent_group(first), setting=agent_setting(first),
            budget=train_budget(first), records=group,
            norm=stats.mean_ci(norm) if norm else None, rate=stats.mean_ci(rate) if rate else None,
            ms=float(np.mean(metric_values(group, "decision_ms"))),
            evals=float(np.mean(metric_values(group, "evaluations_per_decision")))))
    return cells


def _scaling(groups) -> dict[str, dict[str, list[tuple[float, Summary]]]]:
    """``family -> agent -> [(log2|A|, normalised-return summary)]`` sorted by ``log2|A|``."""
    out: dict[str, dict[str, list[tuple[float, Summary]]]] = {}
    for (_, agent), group in groups.items():
        values = metric_values(group, "normalized_return")
        if not values:  # no reference values: nothing to plot on the normalised scale
            continue
        family, log2 = group[0]["env_family"], float(group[0]["log2_actions"])
        points = out.setdefault(family, {}).setdefault(agent, [])
        points.append((log2, summarize(values)))
    for agents in out.values():
        for points in agents.values():
            points.sort(key=lambda p: p[0])
    return out


class Crossover(NamedTuple):
    """Where one search setting falls below the best policy in one family at one training budget
    (``search``/``policy`` None if never)."""

    family: str
    agent: str
    """The search's ``agent_setting``: one line across training budgets."""
    search: Cell | None
    policy: Cell | None
    sizes: list[float]
    """The sizes (log2 |A|) at which both the search and some policy have a normalised return."""
    no_interval: int
    """How many of those sizes could not be judged because the search or the best policy had one seed."""
    budget: int = 0
    """The training budget (env steps) compared at; 0 when no agent here learns."""


def learning_budgets(cells: list[Cell]) -> list[int]:
    """The training budgets (env steps) of the cells that learn (budget above 0), ascending."""
    return sorted({c.budget for c in cells if c.budget > 0})


def crossovers(cells: list[Cell]) -> tuple[list[Crossover], str]:
    """The crossover of every search setting in every family at every training budget, and why the list
    is empty when it is.

    The comparison is at equal budgets: at budget ``B``, the policies trained for ``B`` env steps against
    the search settings trained for ``B``, and the agents that do not learn (budget 0, e.g. an oracle
    value + anneal) take part at every budget. At each size (log2 |A|) that the search and some policy
    share, the best policy is the one with the highest mean normalised return; the crossover is the
    smallest size at which the upper bound of the search's 95% interval is below the lower bound of that
    policy's. Rows are ordered by family, search setting (``agent_setting``), then budget.
    """
    scored = [c for c in cells if c.norm is not None]
    if not scored:
        return [], "no environment has a normalised return (no reference values), so there is nothing to compare"
    searches = [c for c in scored if c.kind == "search"]
    policies = [c for c in scored if c.kind == "policy"]
    if not searches and not policies:
        return [], "the suite has neither search agents (kind `search`) nor policies (kind `policy`)"
    if not searches:
        return [], "the suite has no search agent (kind `search`: value-search, propose-search)"
    if not policies:
        return [], "the suite has no policy (kind `policy`: ppo, distill) to compare the search against"
    budgets = learning_budgets(searches + policies) or [0]
    best: dict[tuple[int, str, float], Cell] = {}
    for budget in budgets:
        for c in policies:
            key = (budget, c.family, c.log2)
            if c.budget in (budget, 0) and (key not in best or c.norm.estimate > best[key].norm.estimate):
                best[key] = c
    rows = []
    for family, settings in nest_by(searches, "family", "setting").items():
        for setting, members in settings.items():
            for budget in budgets:
                points = sorted((c for c in members if c.budget in (budget, 0)), key=lambda c: c.log2)
                if not points:  # this setting was not trained for this budget
                    continue
                shared = [c for c in points if (budget, family, c.log2) in best]
                found, no_interval = None, 0
                for c in shared:
                    policy = best[(budget, family, c.log2)]
                    if not (c.norm.has_interval and policy.norm.has_interval):
                        no_interval += 1
                    elif c.norm.high < policy.norm.low:
                        found = (c, policy)
                        break
                rows.append(Crossover(family, setting, *(found or (None, None)), [c.log2 for c in shared],
                                      no_interval, budget))
    return rows, ""


# ---------------------------------------------------------------------------------------------
# Formatting


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _fmt_ci(s: Summary, digits: int = 3) -> str:
    half = "n/a" if math.isnan(s.half_width) else f"{s.half_width:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {half}"


def _fmt_num(x: float, digits: int) -> str:
    """``x`` to ``digits`` decimals, without the sign of a value that rounds to zero (``-0.000``)."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _fmt_interval(iv: stats.Interval, digits: int = 3) -> str:
    """``0.500 [0.400, 0.600]``, or ``0.500 [—]`` without an interval (a single seed)."""
    if not iv.has_interval:
        return f"{_fmt_num(iv.estimate, digits)} [—]"
    return f"{_fmt_num(iv.estimate, digits)} [{_fmt_num(iv.low, digits)}, {_fmt_num(iv.high, digits)}]"


def _fmt_log2(x: float) -> str:
    """A size as log2 |A|: whole numbers as they are (``64``), others to one decimal (``10.2``)."""
    return f"{round(x)}" if abs(x - round(x)) < 1e-9 else f"{x:.1f}"


def _distinct(values) -> str:
    """``a`` when all values agree, else ``a (5 trials), b (3 trials)``."""
    counts = Counter(str(v) for v in values)
    if len(counts) <= 1:
        return next(iter(counts), "unknown")
    return ", ".join(f"{v} ({c} trials)" for v, c in counts.most_common())


def _rows(head: list[str], numeric_from: int, body: list[list]) -> str:
    rows = ["| " + " | ".join(_cell(h) for h in head) + " |",
            "|" + "---|" * numeric_from + "---:|" * (len(head) - numeric_from)]
    return "\n".join(rows + ["| " + " | ".join(_cell(c) for c in cells) + " |" for cells in body])


def format_table(groups) -> str:
    """The main table, one row per (environment, agent) group, as markdown."""
    head = ["environment", "log2 |A|", "agent", "normalised return", "return", "optimal rate", "decision ms",
            "evals / decision", "train steps", "seeds"]
    body = []
    for (env, agent), group in groups.items():
        raw = summarize(metric_values(group, "return"))
        norm_values = metric_values(group, "normalized_return")
        norm = _fmt_ci(summarize(norm_values)) if norm_values else "—"
        rate_values = metric_values(group, "optimal_rate")
        rate = _fmt_ci(summarize(rate_values)) if rate_values else "—"
        ms = float(np.mean(metric_values(group, "decision_ms")))
        evals = float(np.mean(metric_values(group, "evaluations_per_decision")))
        steps = float(np.mean([r.get("train_steps", 0) for r in group]))
        body.append([env, _fmt_log2(float(group[0]["log2_actions"])), agent, norm, _fmt_ci(raw, 4), rate,
                     fmt_sig3(ms), f"{evals:,.0f}", f"{steps:,.0f}", str(raw.n)])
    return _rows(head, 3, body)


def _mean_ci(group: list[dict], name: str, digits: int = 3) -> str:
    values = metric_values(group, name)
    return _fmt_ci(summarize(values), digits) if values else "—"


def _range(sizes: list[float]) -> str:
    if not sizes:
        return "no size shared with a policy"
    if len(sizes) == 1:
        return f"log2 |A| {_fmt_log2(sizes[0])} only"
    return f"log2 |A| {_fmt_log2(min(sizes))}–{_fmt_log2(max(sizes))}, {len(sizes)} sizes"


def _crossover_section(cells: list[Cell], rows: list[Crossover], why: str) -> list[str]:
    """The crossover table, with a training-budget column when the suite swept the budget."""
    budgets = sorted({row.budget for row in rows})
    lines = ["## Where search falls below the policies", "",
             "For each environment family and each search setting (agent kind `search`), the smallest action "
             "space at which its normalised return falls below the best policy (kind `policy`: a directly "
             "trained or a distilled network) run at that size. *Best* is the policy with the highest mean "
             "normalised return at that size; *below* means the 95% intervals do not overlap: the upper end of "
             "the search's interval is under the lower end of the policy's. The intervals are percentile "
             "bootstrap intervals of the mean over seeds, the bands of the scaling figure; a size where either "
             "side has a single seed has no interval and cannot count. Decision cost is the search's at that "
             "size. *None in range* means it never fell below within the sizes both were run at (given in "
             "brackets).", ""]
    if not rows:
        return lines + [f"Nothing to compare: {why}.", ""]
    if len(budgets) > 1:
        lines += ["The suite swept the training budget, so the comparison is at equal budgets: at each budget, "
                  "the search settings trained for that many environment steps against the policies trained for "
                  "as many. Search settings that do not learn (an oracle value, the environment's own landscape) "
                  "take part at every budget. A search setting is one row per budget (its `agent_setting`, the "
                  "label without `steps=`).", ""]
    compared = [c for c in cells if c.norm is not None and c.kind in ("search", "policy")]
    fewest = min(len(metric_values(c.records, "normalized_return")) for c in compared)
    if fewest < 5:
        lines += [f"Some of these groups have only {fewest} seed{'s' if fewest > 1 else ''}. With 2 or 3 seeds a "
                  "percentile bootstrap interval is the range of the seeds, much narrower than the Student-t "
                  "interval of the results table, so read a crossover from so few seeds as provisional.", ""]
    body = []
    for row in rows:
        at = [f"{row.budget:,}"] if len(budgets) > 1 else []
        if row.search is None:
            note = _range(row.sizes)
            if row.no_interval:
                note += f"; {row.no_interval} without an interval (one seed)"
            body.append([row.family, row.agent, *at, f"None in range ({note})", "—", "—", "—", "—", "—"])
            continue
        s, p = row.search, row.policy
        body.append([row.family, row.agent, *at, _fmt_log2(s.log2), _fmt_interval(s.norm), fmt_sig3(s.ms),
                     f"{s.evals:,.0f}", p.agent, _fmt_interval(p.norm)])
    head = ["family", "search setting", *(["training budget (env steps)"] if len(budgets) > 1 else []),
            "crossover at log2 |A|", "search: normalised return [95% CI]", "search: decision ms",
            "search: evals / decision", "fell below", "policy: normalised return [95% CI]"]
    return lines + [_rows(head, 2, body), ""]


def _crossover_label(row: Crossover) -> str:
    """A crossover in a few characters: its log2 |A|, ``none`` if none in range, ``—`` if nothing was compared."""
    if row.search is not None:
        return _fmt_log2(row.search.log2)
    return "none" if row.sizes else "—"


def _crossover_budget_section(rows: list[Crossover], run_dir: pathlib.Path, figures: list,
                              styles: dict) -> list[str]:
    """How each search setting's crossover moves with the training budget: a table per family and
    ``crossover_vs_budget.png``; only when the suite swept the budget."""
    budgets = sorted({row.budget for row in rows})
    if len(budgets) < 2:
        return []
    by_family: dict[str, dict[str, dict[int, Crossover]]] = {}
    for row in rows:
        by_family.setdefault(row.family, {}).setdefault(row.agent, {})[row.budget] = row
    lines = ["## How the crossover moves with the training budget", "",
             "The crossover log2 |A| of each search setting (rows) at each training budget (columns), from the "
             "table above: *none* where it never fell below the best policy of that budget within the sizes "
             "compared, — where it was not compared at that budget.", ""]
    for family, settings in by_family.items():
        body = [[setting, *(_crossover_label(at[b]) if b in at else "—" for b in budgets)]
                for setting, at in settings.items()]
        lines += [f"**{family}**", "", _rows(["search setting", *(f"{b:,} steps" for b in budgets)], 1, body), ""]
    data, tops = {}, {}  # family -> setting -> [(budget, crossover or None)]; family -> largest size compared
    for family, settings in by_family.items():
        sizes = [x for at in settings.values() for row in at.values() for x in row.sizes]
        if sizes:
            tops[family] = max(sizes)
            data[family] = {setting: [(b, row.search.log2 if row.search else None) for b, row in sorted(at.items())
                                      if row.sizes] for setting, at in settings.items()}
    if not data:
        return lines
    plot_crossover_budget(data, tops, run_dir / CROSSOVER_BUDGET_FIGURE, styles)
    caption = ("Crossover log2 |A| against the training budget (environment steps, log scale), one line per search "
               "setting, one panel per family. A hollow marker on the dotted line at the top of the size range "
               "means none in range: at that budget the search never fell below the best policy at the sizes run.")
    figures.append((CROSSOVER_BUDGET_FIGURE, caption))
    return lines + [f"![crossover against the training budget]({CROSSOVER_BUDGET_FIGURE})", "", caption, ""]


_FIT_METRICS = ("fit_error_uniform", "fit_error_search", "overestimation")


def _split_section(groups) -> list[str]:
    """The shortfall split of every learned value + search group that logged one, with how well its value
    fits the reward where the trial measured that."""
    rows = [(env, agent, group) for (env, agent), group in groups.items()
            if any(metric_values(group, name) for name in ("search_error", *_FIT_METRICS))]
    if not rows:
        return []
    fit = any(metric_values(group, name) for *_, group in rows for name in _FIT_METRICS)
    body = [[env, agent, _mean_ci(group, "normalized_return"), _mean_ci(group, "search_error", 4),
             _mean_ci(group, "value_error", 4), *(_mean_ci(group, name, 4) for name in _FIT_METRICS if fit),
             _distinct(r["metrics"].get("split_by") for r in group),
             str(sum(r["metrics"].get("split_decisions") or 0 for r in group))]
            for env, agent, group in rows]
    head = ["environment", "agent", "normalised return", "search error", "value error",
            *(["fit error, uniform", "fit error, at search", "overestimation"] if fit else []), "split by",
            "decisions"]
    lines = ["## Why learned value + search falls short", "",
             "On a sample of evaluation decisions, in reward units: **search error** `Q̂(a*_Q̂) − Q̂(a)` is what "
             "the search left of its own value's best; **value error** `r(a*) − r(a*_Q̂)` is what a perfect "
             "search of `Q̂` would still lose. `a*_Q̂` comes from the method under *split by*; with `100x budget` "
             "it is an estimate, and the search error can come out negative. Mean ± 95% Student-t half-width "
             "over seeds.", ""]
    if fit:
        lines += ["How well the learned value fits the reward, on the same decisions of a one-step task (where "
                  "`Q = r`), also in reward units: **fit error, uniform** is the root mean square of `Q̂ − r` over "
                  "uniform random actions, **fit error, at search** is `|Q̂ − r|` at the action the search took, "
                  "and **overestimation** is `Q̂ − r` there, signed. The search maximises the value's errors along "
                  "with the value, so an overestimation above the uniform fit error is the optimiser's curse.", ""]
    return lines + [_rows(head, 2, body), ""]


def _spending_section(groups) -> list[str]:
    """What training spent, per group of an agent that learns: means over seeds."""
    body = []
    for (env, agent), group in groups.items():
        budget = train_budget(group[0])
        if budget <= 0:
            continue
        counts = [f"{float(np.mean(v)):,.0f}" if (v := metric_values(group, name)) else "—"
                  for name in ("train_env_steps", "train_gradient_steps", "train_search_evaluations")]
        seconds = metric_values(group, "train_seconds")
        body.append([env, agent, f"{budget:,}", *counts, fmt_sig3(float(np.mean(seconds))) if seconds else "—"])
    if not body:
        return []
    head = ["environment", "agent", "budget (env steps)", "env steps", "gradient steps", "search evaluations",
            "train seconds"]
    return ["## What training spent", "",
            "Each agent that learns is given a budget of environment steps, the same as every other learner at "
            "that budget; what it does with them differs. Means over seeds of the environment steps it took (a "
            "distilled student's include its teacher's, a PPO run's are whole rollouts), the optimiser steps of "
            "every network it trains, the landscape evaluations its searches made in training (acting, Bellman "
            "targets, a teacher's labels) and the wall seconds: equal environment steps, unequal compute. — where "
            "a trial did not report it.", "",
            _rows(head, 2, body), ""]


def _sample_efficiency_section(cells: list[Cell], run_dir: pathlib.Path, figures: list, styles: dict) -> list[str]:
    """Normalised return against the training budget: ``sample_efficiency.png`` and a table; only when the
    suite swept the budget."""
    budgets = learning_budgets(cells)
    data = sample_efficiency_data(cells)
    if len(budgets) < 2 or not data:
        return []
    drawn, note = cap_panels(data)
    plot_sample_efficiency(drawn, run_dir / SAMPLE_EFFICIENCY_FIGURE, styles)
    caption = ("Normalised return against the training budget (environment steps, log scale), one line per agent "
               "setting that learns (its `agent_setting`, the label without `steps=`), shaded band = 95% bootstrap "
               "interval of the mean over seeds, one panel per environment. Agents that do not learn (references, "
               "search over a known value) are dashed horizontal lines for context." + note)
    figures.append((SAMPLE_EFFICIENCY_FIGURE, caption))
    body = []
    for env, (lines, _) in data.items():
        for setting, points in lines.items():
            at = {c.budget: c for c in points}
            body.append([env, setting, *(_mean_ci(at[b].records, "normalized_return") if b in at else "—"
                                         for b in budgets)])
    head = ["environment", "agent setting", *(f"{b:,} steps" for b in budgets)]
    return ["## Sample efficiency: return against the training budget", "",
            f"![normalised return against the training budget]({SAMPLE_EFFICIENCY_FIGURE})", "", caption, "",
            "**Normalised return by training budget**: mean ± 95% Student-t half-width over seeds (n/a for a "
            "single seed), — where the setting was not run at that budget.", "", _rows(head, 2, body), ""]


def _distill_section(groups) -> list[str]:
    """Each distilled student beside its teacher, on the same held-out evaluation contexts."""
    body = []
    for (env, agent), group in groups.items():
        if not metric_values(group, "teacher_normalized_return") and not metric_values(group, "teacher_return"):
            continue
        teacher_ms = metric_values(group, "teacher_decision_ms")
        teacher_evals = metric_values(group, "teacher_evaluations_per_decision")
        body.append([env, agent, _mean_ci(group, "normalized_return"), _mean_ci(group, "teacher_normalized_return"),
                     fmt_sig3(float(np.mean(metric_values(group, "decision_ms")))),
                     fmt_sig3(float(np.mean(teacher_ms))) if teacher_ms else "—",
                     f"{float(np.mean(teacher_evals)):,.0f}" if teacher_evals else "—",
                     _mean_ci(group, "agreement_train", 2), _mean_ci(group, "agreement_held_out", 2)])
    if not body:
        return []
    head = ["environment", "student", "student return (norm.)", "teacher return (norm.)", "student ms",
            "teacher ms", "teacher evals / decision", "agreement, training contexts",
            "agreement, held-out contexts"]
    return ["## Distilled students against their teachers", "",
            "Both are evaluated on the same contexts, none seen in training. Agreement is how much of the "
            "teacher's action the student repeats (its share of the teacher's items in a k-of-N space, else "
            "of equal bits or components): in the last DAgger round's rollout, and on the first evaluation "
            "decisions. Mean ± 95% Student-t half-width over seeds.", "",
            _rows(head, 2, body), ""]


def _pooled_rate(failures: list[float], decisions: list[float]) -> str:
    """``k / n = rate (95% upper)`` pooled over seeds; with no failure, the bound alone (never 0)."""
    k, n = int(sum(failures)), int(sum(decisions))
    r = stats.failure_rate(k, n)
    if k == 0:
        return f"0 / {n:,} (≤ {r.upper:.2g})"
    return f"{k:,} / {n:,} = {r.rate:.2g} (≤ {r.upper:.2g})"


def _safety_section(groups) -> list[str]:
    """Failure rates (catastrophes per decision) with exact bounds, where the env reports them."""
    body = []
    for (env, agent), group in groups.items():
        failures = metric_values(group, "failures")
        if not failures:
            continue
        decisions = [r["metrics"]["decisions"] for r in group if r["metrics"].get("failures") is not None]
        found = metric_values(group, "adversary_failures")
        queries = metric_values(group, "adversary_queries")
        labels = metric_values(group, "train_overseer_queries")
        fallback = metric_values(group, "fallback_rate")
        at_scale = _pooled(group, "safety_failures", "safety_decisions")
        body.append([env, agent, _mean_ci(group, "normalized_return"), _pooled_rate(failures, decisions),
                     _pooled_rate([at_scale.failures], [at_scale.decisions]) if at_scale else "—",
                     f"{float(np.mean(fallback)):.2g}" if fallback else "—",
                     f"{float(np.mean(labels)):,.0f}" if labels else "—",
                     _pooled_rate(found, queries) if queries else "—"])
    if not body:
        return []
    head = ["environment", "agent", "normalised return", "failures / decisions (95% upper)",
            "at scale: failures / decisions (95% upper)", "fallback rate", "labels",
            "adversary: failures / queries (95% upper)"]
    scale = (" At scale: the same on the many more decisions of `safety_decisions`, decided in batches "
             "(`benchmarks.safety`).")
    if all(row[4] == "—" for row in body):  # no trial measured at scale
        head, body, scale = head[:4] + head[5:], [row[:4] + row[5:] for row in body], ""
    return ["## Failure rates", "",
            "Catastrophic decisions (the env's `info[\"catastrophe\"]`) among the held-out evaluation decisions, "
            "pooled over seeds, with the exact one-sided 95% upper bound (Clopper–Pearson); with no failure "
            "observed the bound is the result, not 0." + scale + " Labels: overseer queries spent training a "
            "classifier (means over seeds). Adversary: completions a search found that the filter passed and "
            "the overseer marked catastrophic, per query (docs/conservative.md). Normalised return: mean ± 95% "
            "Student-t half-width over seeds.", "",
            _rows(head, 2, body), ""]


def _threshold_free(label: str) -> str:
    """An agent label without its ``threshold=…`` part: the classifier that a threshold sweep shares."""
    return re.sub(r"\s*\bthreshold=\S+", "", label).strip()


def _pooled(group: list[dict], failures: str = "failures", decisions: str = "decisions") -> stats.FailureRate | None:
    """The group's failures pooled over seeds, with exact bounds; None when it has none recorded."""
    pairs = [(r["metrics"][failures], r["metrics"][decisions]) for r in group
             if r["metrics"].get(failures) is not None and r["metrics"].get(decisions)]
    if not pairs:
        return None
    return stats.failure_rate(sum(k for k, _ in pairs), sum(n for _, n in pairs))


def frontier_data(groups) -> dict[str, dict]:
    """Per environment, the filters' points for :func:`benchmarks.figures.plot_frontier`: each group
    with a ``threshold`` in its config and recorded failures is a point ``(mean normalised return,
    pooled rate, its 95% upper bound, failures)`` on the line of its label without the threshold; a
    filter that passes everything (``threshold >= 1`` with the overseer as classifier) is an
    unfiltered generator (``generators``, by label)."""
    panels: dict[str, dict] = {}
    for (env, agent), group in groups.items():
        config = group[0].get("agent_config") or {}
        rate, norm = _pooled(group), metric_values(group, "normalized_return")
        if "threshold" not in config or rate is None or not norm:
            continue
        point = (float(np.mean(norm)), rate.rate, rate.upper, rate.failures)
        panel = panels.setdefault(env, {"series": {}, "generators": {}})
        if config.get("classifier") == "overseer" and config["threshold"] >= 1.0:
            panel["generators"][agent] = point
        else:
            panel["series"].setdefault(_threshold_free(agent), []).append(point)
    return {env: p for env, p in panels.items() if p["series"]}


def _frontier_section(groups, run_dir: pathlib.Path, figures: list) -> list[str]:
    data = frontier_data(groups)
    if not data:
        return []
    drawn, note = cap_panels(data)
    plot_frontier(drawn, run_dir / FRONTIER_FIGURE)
    caption = ("The conservativeness frontier: failures per decision (pooled over seeds, log scale; whiskers up "
               "to the exact 95% upper bound) against mean normalised return, one line per classifier through "
               "the thresholds it was run at, one panel per environment. A point with no failure observed is "
               "drawn at its upper bound as a hollow triangle. A star is a generator unfiltered (the same "
               "candidates, the best by quality kept), named beside it when there are several; the constrained "
               "optimum (1.0, never failing) is a dotted line, or a note at the panel's edge when it lies far to "
               "the right of the filters." + note)
    figures.append((FRONTIER_FIGURE, caption))
    return [f"![failure rate against quality]({FRONTIER_FIGURE})", "", caption, ""]


def _cost_section(groups) -> list[str]:
    """Per environment and generator: how rare catastrophes are, and what filtering costs (quality,
    candidates)."""
    by_env: dict[str, dict] = {}
    for (env, agent), group in groups.items():
        by_env.setdefault(env, {})[agent] = group

    def config(g):
        return g[0].get("agent_config") or {}

    def safest(pool):  # the lowest pooled failure rate, then the best quality
        return min(pool.items(), key=lambda kv: (_pooled(kv[1]).rate, -float(np.mean(
            metric_values(kv[1], "normalized_return") or [0.0]))))

    body = []
    for env, agents_ in by_env.items():
        filters = {a: g for a, g in agents_.items() if metric_values(g, "acceptance_rate") and _pooled(g)}
        first = next(iter(agents_.values()))[0]
        uniform = [_pooled(g) for g in agents_.values() if g[0]["agent"] == "random" and _pooled(g)]
        for generator in dict.fromkeys(config(g).get("generator", "uniform") for g in filters.values()):
            own = {a: g for a, g in filters.items() if config(g).get("generator", "uniform") == generator}
            learned = {a: g for a, g in own.items() if config(g).get("classifier") != "overseer"}
            unfiltered = [g for g in own.values() if config(g).get("classifier") == "overseer"
                          and config(g).get("threshold", 0) >= 1.0]
            row = [env, _fmt_log2(float(first["log2_actions"])), generator,
                   _pooled_rate([uniform[0].failures], [uniform[0].decisions]) if uniform else "—"]
            if unfiltered:
                r = _pooled(unfiltered[0])
                row += [_pooled_rate([r.failures], [r.decisions]), _mean_ci(unfiltered[0], "normalized_return")]
            else:
                row += ["—", "—"]
            if learned:
                label, g = safest(learned)
                r, acc = _pooled(g), float(np.mean(metric_values(g, "acceptance_rate")))
                row += [label, _pooled_rate([r.failures], [r.decisions]), _mean_ci(g, "normalized_return"),
                        f"{acc:.3f}", f"{1 / acc:.3g}" if acc > 0 else "∞"]
            else:
                row += ["—"] * 5
            body.append(row)
    if not body:
        return []
    head = ["environment", "log2 |A|", "generator", "uniform completion: failures", "unfiltered best-of-K: failures",
            "unfiltered: normalised return", "safest learned filter", "its failures", "its normalised return",
            "its accepted share", "candidates per accepted"]
    return ["### What filtering costs as |A| and rarity change", "",
            "Per environment and generator (`filtered`'s `generator`): how often a uniform action is catastrophic "
            "(the `random` agent), how often the generator's best-of-K by quality is when nothing filters it, and "
            "the learned filter on its candidates with the lowest pooled failure rate, with the share of "
            "candidates it accepts (rejection sampling needs `1 / share` candidates per accepted one). Failures "
            "pooled over seeds, with the exact 95% upper bound.", "",
            _rows(head, 3, body), ""]


def _adversarial_section(groups) -> list[str]:
    """Per filter trained adversarially: a fresh adversary's failures per query before and after each round."""
    body, most = [], 0
    for (env, agent), group in groups.items():
        curves = [r.get("adversarial_curve") for r in group if r.get("adversarial_curve")]
        if not curves:
            continue
        rounds = min(len(c) for c in curves)
        most = max(most, rounds)
        cells = [_pooled_rate([c[i]["failures"] for c in curves], [c[i]["queries"] for c in curves])
                 for i in range(rounds)]
        added = float(np.mean([c[rounds - 1]["labels"] - c[0]["labels"] for c in curves]))
        body.append((env, agent, cells, f"{added:,.0f}"))
    if not body:
        return []
    body = [[env, agent, *cells, *["—"] * (most - len(cells)), added] for env, agent, cells, added in body]
    head = ["environment", "agent", *[f"round {i}" if i else "before" for i in range(most)], "labels added"]
    return ["### Adversarial training", "",
            "Each round, an adversary by search attacks fresh prompts; every completion it shows the overseer "
            "becomes a label and the classifier is refitted on all labels. Before the first round and after "
            "each, a new adversary on prompts it never trained on measures failures per query (pooled over "
            "seeds, exact 95% upper bound). Its failure rate on the generator's own distribution, after the "
            "last round, is the row's entry in the table above.", "",
            _rows(head, 2, body), ""]


def _header(suite_records: list[dict], ok: list[dict], failed: list[dict], results_name: str) -> str:
    prov = [r.get("provenance") or {} for r in suite_records]
    machine = [p.get("machine") or {} for p in prov]
    suites = _distinct(r.get("suite", "unknown") for r in suite_records)
    return "\n".join([
        f"# Report: {suites}",
        "",
        f"Computed from `{results_name}`: **{len(ok)} trials ok, {len(failed)} failed**.",
        "",
        f"- standin: {_distinct(p.get('standin', 'unknown') for p in prov)}",
        f"- git commit: {_distinct(p.get('git_commit', 'unknown') for p in prov)}",
        f"- machine: {_distinct(_machine_line(m) for m in machine)}",
    ])


def _machine_line(machine: dict) -> str:
    return f"{machine.get('cores', '?')} cores, {machine.get('cpu') or 'unknown cpu'}"


def _reference_notes(groups) -> list[str]:
    """Notes on environments whose 1.0 end is not the exact optimum, or that have no reference."""
    above, bound, none = {}, {}, []
    for (env, _), group in groups.items():
        ref = group[0].get("reference") or {}
        if not metric_values(group, "normalized_return"):
            none.append(env)
        elif ref.get("high_is_bound"):
            bound[env] = ref.get("high", "a bound")
        elif ref.get("high_is_optimum") is False:
            above[env] = ref.get("high", "a reference")
    notes = []
    if above:
        listed = "; ".join(f"{env} (1.0 = {high})" for env, high in above.items())
        notes.append(f"Scores above 1.0 are possible where the 1.0 end is a reference policy, not the optimum: "
                     f"{listed}.")
    if bound:
        listed = "; ".join(f"{env} (1.0 = {high})" for env, high in bound.items())
        notes.append(f"Where the 1.0 end is an upper bound, 1.0 may be out of any agent's reach: {listed}.")
    if none:
        notes.append(f"No reference values (the environment reports no optimal_value/random_value), so raw "
                     f"returns only: {'; '.join(dict.fromkeys(none))}.")
    return notes


def _scale_text(cells: list[Cell]) -> str:
    """What 1.0 and 0.0 of the normalised return are, per family when they differ."""
    ends = {}
    for c in cells:
        if c.norm is None:
            continue
        ref = c.records[0].get("reference") or {}
        ends.setdefault(c.family, (ref.get("high", "?"), ref.get("low", "?")))
    if len(set(ends.values())) == 1:
        high, low = next(iter(ends.values()))
        return f"1.0 = {high}, 0.0 = {low}"
    return "; ".join(f"{fam}: 1.0 = {hi}, 0.0 = {lo}" for fam, (hi, lo) in ends.items())


def _standings(scaling) -> list[str]:
    """Per family, a table of each agent's mean normalised return at every log2 |A| (— where not run)."""
    lines = []
    for family, agents in scaling.items():
        sizes = sorted({x for points in agents.values() for x, _ in points})
        head = ["agent", *(f"log2 |A| = {_fmt_log2(x)}" for x in sizes)]
        lines += [f"**{family}**", "", "| " + " | ".join(_cell(h) for h in head) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for agent, points in agents.items():
            at = {x: summary.mean for x, summary in points}
            cells = [agent, *(f"{at[x]:.3f}" if x in at else "—" for x in sizes)]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return lines


def _failed_section(failed: list[dict]) -> list[str]:
    if not failed:
        return []
    lines = ["## Failed trials", "", "| environment | agent | seed | error |", "|---|---|---:|---|"]
    for r in failed:
        error = (r.get("error") or "").strip().splitlines()[0:1] or ["unknown error"]
        cells = [r.get("env_label", "?"), r.get("agent_label", "?"), r.get("seed", "?"), error[0]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines + [""]


# ---------------------------------------------------------------------------------------------
# Aggregate over tasks: IQM and probability of improvement


def _task_scores(cells: list[Cell]) -> dict[str, dict[str, np.ndarray]]:
    """``agent -> env -> per-seed normalised returns``, for the groups that have them."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for c in cells:
        values = metric_values(c.records, "normalized_return")
        if values:
            out.setdefault(c.agent, {})[c.env] = np.asarray(values, dtype=float)
    return out


def _poi_pairs(agents: list[str], kinds: dict[str, str | None],
               budgets: dict[str, int]) -> tuple[list[tuple[str, str]], str]:
    """Which pairs to compare: each search against each policy when there are both, else all pairs;
    either way only at equal training budgets (an agent that does not learn, budget 0, pairs with any)."""
    def fair(a, b):
        return budgets[a] == budgets[b] or 0 in (budgets[a], budgets[b])

    searches = [a for a in agents if kinds[a] == "search"]
    policies = [a for a in agents if kinds[a] == "policy"]
    swept = len({b for b in budgets.values() if b > 0}) > 1
    equal = " at equal training budgets" if swept else ""
    if searches and policies:
        return ([(s, p) for s in searches for p in policies if fair(s, p)],
                f"each search setting against each policy{equal}")
    pairs = [(a, b) for i, a in enumerate(agents) for b in agents[i + 1:] if fair(a, b)]
    return pairs, f"every pair of agents{equal}, in suite order"


def _aggregate_section(cells: list[Cell], run_dir: pathlib.Path, figures: list, styles: dict) -> list[str]:
    scores = _task_scores(cells)
    if not scores:
        return []
    kinds = {c.agent: c.kind for c in cells}
    agents = list(scores)
    intervals = {a: stats.iqm_ci(list(scores[a].values())) for a in agents}
    all_tasks = {env for tasks in scores.values() for env in tasks}
    body = [[a, kinds[a] or "—", str(len(scores[a])), str(sum(v.size for v in scores[a].values())),
             _fmt_interval(intervals[a])] for a in agents]
    lines = ["## Aggregate over tasks: IQM and probability of improvement", "",
             "Tasks are the environments (`env_label`) with a normalised return, runs are their seeds. The "
             "**IQM** is the mean of the middle 50% of an agent's per-seed normalised returns pooled over its "
             "tasks (a quarter dropped at each end). Its 95% interval is a stratified bootstrap: each replicate "
             f"redraws every task's seeds with replacement within that task ({stats.REPS} replicates, percentile "
             "interval; — for a single seed per task), as rliable computes it (Agarwal et al. 2021).", ""]
    if any(len(tasks) != len(all_tasks) for tasks in scores.values()):
        lines += ["Not every agent ran on every task here: compare IQMs over different task sets with care, "
                  "and see the probability of improvement below, which uses the tasks each pair shares.", ""]
    lines += [_rows(["agent", "kind", "tasks", "runs", "IQM [95% CI]"], 2, body), ""]
    plot_iqm([(a, intervals[a]) for a in agents], run_dir / IQM_FIGURE, styles)
    caption = ("IQM of the normalised return over each agent's tasks, with its 95% stratified-bootstrap "
               "interval (bar).")
    figures.append((IQM_FIGURE, caption))
    lines += [f"![IQM of normalised return per agent]({IQM_FIGURE})", "", caption, ""]

    pairs, which = _poi_pairs(agents, kinds, {c.agent: c.budget for c in cells})
    comparable = [(x, y, shared) for x, y in pairs if (shared := [env for env in scores[x] if env in scores[y]])]
    if not comparable:
        return lines
    rows = []
    for x, y, shared in comparable[:_MAX_PAIRS]:
        iv = stats.poi_ci([scores[x][e] for e in shared], [scores[y][e] for e in shared])
        rows.append([x, y, str(len(shared)), _fmt_interval(iv, 2)])
    more = f" (the first {_MAX_PAIRS} of {len(comparable)})" if len(comparable) > _MAX_PAIRS else ""
    lines += ["**Probability of improvement** `P(X > Y)`: on each task both ran, the share of (seed of X, seed "
              "of Y) pairs in which X's normalised return is higher (ties count half), averaged over those "
              "tasks; 0.5 = neither is better. Its 95% interval resamples the seeds of X and of Y independently "
              f"within each task. Pairs: {which}{more}.", "",
              _rows(["X", "Y", "shared tasks", "P(X > Y) [95% CI]"], 2, rows), ""]
    return lines



# ---------------------------------------------------------------------------------------------
# Compute against quality, and learning curves


def _pareto_section(cells: list[Cell], run_dir: pathlib.Path, figures: list, styles: dict) -> list[str]:
    by_env = nest_by([c for c in cells if c.norm is not None], "env")
    if not by_env:
        return []
    drawn, note = cap_panels(by_env)
    plot_pareto(drawn, run_dir / PARETO_FIGURE, styles)
    caption = ("Decision time (mean ms per `act`, log scale) against mean normalised return, one point per agent "
               "setting (circles search, squares policies, triangles references, diamonds agents of no known "
               "kind), one panel per environment. "
               "Circled points joined by the black step line form the Pareto front of the search and policy "
               "settings: no other such point is at most as slow and at least as good (references, such as an "
               "oracle that knows the optimum, are drawn but left off the front)." + note)
    figures.append((PARETO_FIGURE, caption))
    body = []
    for env, points in by_env.items():
        xy = [(c.ms, c.norm.estimate) for c in points]
        front = " → ".join(f"{points[i].agent} ({fmt_sig3(points[i].ms)} ms, {points[i].norm.estimate:.2f})"
                           for i in front_of(points, xy)) or "— (references only)"
        body.append([env, front])
    return ["## Compute against quality", "", f"![decision ms against normalised return]({PARETO_FIGURE})", "",
            caption, "", "The front of each environment, cheapest first:", "",
            _rows(["environment", "Pareto front (decision ms, normalised return)"], 2, body), ""]


def _learning_section(records: list[dict], run_dir: pathlib.Path, figures: list, styles: dict) -> list[str]:
    data, normalised = learning_data(records)
    if not data:
        return []
    drawn, note = cap_panels(data)
    plot_learning(drawn, normalised, run_dir / LEARNING_FIGURE, styles)
    norm_envs = [env for env, flag in normalised.items() if flag]
    if len(norm_envs) == len(data):
        how = ("normalised with each trial's evaluation references, `(return − random_return) / "
               "(optimal_return − random_return)` from its `metrics`; training episodes are not the evaluation "
               "episodes, so this is approximate")
    elif norm_envs:
        how = ("normalised with each trial's evaluation references (`random_return`, `optimal_return` of its "
               "`metrics`; approximate, as training episodes are not the evaluation episodes) where every trial "
               "of the panel has them, raw elsewhere")
    else:
        how = "raw (no trial here has reference returns to normalise with)"
    caption = (f"Mean training episode return (the records' `learning_curve`) against environment steps, one line "
               f"per agent (mean over seeds on their common steps, shaded = range over seeds), one panel per "
               f"environment; returns are {how}." + note)
    figures.append((LEARNING_FIGURE, caption))
    return ["## Learning curves", "", f"![training return against steps]({LEARNING_FIGURE})", "", caption, ""]


# ---------------------------------------------------------------------------------------------
# The report


def write_report(run_dir, *, results_name: str = "results.jsonl") -> pathlib.Path:
    """Write ``run_dir/report.md``, ``run_dir/report.html`` and the figures from ``run_dir/results_name``;
    return the path of ``report.md``."""
    run_dir = pathlib.Path(run_dir)
    results_path = run_dir / results_name
    records = latest_per_trial(load_results(results_path))
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    for r in ok:
        _check_ok_record(r, str(results_path))
    groups = group_trials(ok)
    cells = _cells(groups)
    agents = list(dict.fromkeys(c.agent for c in cells))
    styles = agent_styles(agents, {c.agent: c.kind for c in cells})
    settings = list(dict.fromkeys(c.setting for c in cells))  # one learner at several budgets: one colour
    setting_styles = agent_styles(settings, {c.setting: c.kind for c in cells})
    figures: list[tuple[str, str]] = []  # (file, caption), in report order
    body: list[str] = []

    if groups:
        rows, why = crossovers(cells)
        body += _crossover_section(cells, rows, why)
        body += _crossover_budget_section(rows, run_dir, figures, setting_styles)
        body += ["## Results", "",
                 "Mean ± 95% Student-t half-width over seeds (n/a for a single seed); decision ms and evaluations "
                 "are means. The figures and the crossover table use bootstrap intervals instead (see there).", "",
                 format_table(groups), ""]
        notes = _reference_notes(groups)
        body += [*notes, ""] if notes else []
        body += _spending_section(groups)

    curves = {fam: {a: sorted(cs, key=lambda c: c.log2) for a, cs in agents_.items()}
              for fam, agents_ in nest_by([c for c in cells if c.norm is not None], "family", "agent").items()}
    if curves:
        plot_scaling(curves, run_dir / FIGURE_NAME, styles=styles)
        caption = (f"How to read it: normalised return ({_scale_text(cells)}) against log2 |A|, one line per agent "
                   "(solid search, dashed policies, dotted references, dash-dotted agents of no known kind), "
                   "shaded band = 95% bootstrap interval of the mean over seeds (none for a single seed), one panel "
                   "per environment family; a family run at one size is a single point.")
        figures.append((FIGURE_NAME, caption))
        body += ["## Scaling with the action space", "", f"![normalised return against log2 |A|]({FIGURE_NAME})",
                 "", caption, ""]
        rates = {fam: {a: sorted(cs, key=lambda c: c.log2) for a, cs in agents_.items()}
                 for fam, agents_ in nest_by([c for c in cells if c.rate is not None], "family", "agent").items()}
        if rates:
            plot_scaling(rates, run_dir / OPTIMAL_RATE_FIGURE, metric="rate", ylabel="optimal rate", styles=styles)
            caption = ("Optimal rate (the fraction of decisions that reached the optimum) against log2 |A|, drawn "
                       "like the figure above, for the groups where it is defined (an exact optimum per decision).")
            figures.append((OPTIMAL_RATE_FIGURE, caption))
            body += [f"![optimal rate against log2 |A|]({OPTIMAL_RATE_FIGURE})", "", caption, ""]

    body += _sample_efficiency_section(cells, run_dir, figures, setting_styles)
    body += _aggregate_section(cells, run_dir, figures, styles)

    anytime = anytime_data(cells)
    if anytime:
        drawn, note = cap_panels(anytime)
        plot_anytime(drawn, run_dir / ANYTIME_FIGURE, styles)
        caption = ("Anytime curves: normalised return against evaluations per decision (log scale) for each search "
                   "method run at several budgets (one line per agent group, shaded 95% bootstrap interval over "
                   "seeds). Policies (dashed) and references (dotted) do not search; they are horizontal lines "
                   "labelled with their own decision time. One panel per environment." + note)
        figures.append((ANYTIME_FIGURE, caption))
        body += ["## Anytime: return against search budget", "", f"![anytime curves]({ANYTIME_FIGURE})", "",
                 caption, ""]

    body += _pareto_section(cells, run_dir, figures, styles)

    split = _split_section(groups)
    split_cells = nest_by([c for c in cells if metric_values(c.records, "search_error")], "family")  # with a split
    if split_cells:
        plot_split(split_cells, run_dir / SPLIT_FIGURE)
        caption = ("Search error (blue) beside value error (red) per environment size and agent, means over seeds "
                   "with 95% bootstrap whiskers, one panel per family.")
        figures.append((SPLIT_FIGURE, caption))
        split += [f"![search error and value error]({SPLIT_FIGURE})", "", caption, ""]
    body += split
    body += _distill_section(groups)
    safety = _safety_section(groups)
    if safety:
        safety += _frontier_section(groups, run_dir, figures) + _cost_section(groups) + _adversarial_section(groups)
    body += safety
    body += _learning_section([r for c in cells for r in c.records], run_dir, figures, styles)  # table order
    if not groups:
        body += ["No trial finished ok, so there is no table or figure.", ""]
    body += _failed_section(failed)
    scaling = _scaling(groups)
    if scaling:
        body += ["## Where each agent stands", "",
                 "Mean normalised return of each agent at each action-space size, per family:", "",
                 *_standings(scaling), ""]

    lines = [_header(records, ok, failed, results_name), ""]
    if figures:
        lines += ["Figures: " + ", ".join(f"[{name}]({name})" for name, _ in figures) + ".", ""]
    lines += body
    text = "\n".join(lines).rstrip("\n") + "\n"
    written = {name for name, _ in figures}
    for name in FIGURES:  # figures an earlier report drew from records that are no longer there
        if name not in written:
            (run_dir / name).unlink(missing_ok=True)
    report = run_dir / "report.md"
    report.write_text(text, encoding="utf-8")
    page = markdown_to_html(text, run_dir, title=text.splitlines()[0].lstrip("# "))
    (run_dir / HTML_NAME).write_text(page, encoding="utf-8")
    return report

