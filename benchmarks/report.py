"""A suite's report, computed from its ``results.jsonl`` alone.

``write_report(run_dir)`` reads ``run_dir/results.jsonl`` (one JSON object per finished trial, see
``docs/results.md``) and writes ``run_dir/report.md``, the same content as one self-contained
``run_dir/report.html`` (figures embedded as base64), and PNG figures next to them. Every number and
figure is computed here from the records; nothing is typed in by hand. ``report.md`` holds, each section
only when the records hold what it shows:

1. a provenance header (suite, standin version, git commit, machine) and a list of the figures;
2. **Where search falls below the policies**: the crossover table (below);
3. **Results**: one row per (environment, agent setting), with notes on the reference values;
4. **Scaling with the action space**: ``normalized_return_vs_log2A.png`` and
   ``optimal_rate_vs_log2A.png``, each agent's mean over seeds against ``log2 |A|`` with 95% bootstrap
   bands, one panel per environment family (a family run at one size is a single point);
5. **Aggregate over tasks**: each agent's IQM with its interval (table and ``iqm.png``) and the
   probability of improvement of each search setting over each policy (of every pair when the suite
   lacks one of the two kinds), on the tasks both ran;
6. **Anytime**: ``anytime.png``, normalised return against evaluations per decision for each search
   ``agent_group`` run at two or more settings (a budget sweep) in an environment, with the policies and
   references of that environment as horizontal lines labelled with their decision time;
7. **Compute against quality**: ``pareto.png``, decision ms against normalised return per environment,
   with the Pareto front of the search and policy settings (references such as an oracle that knows the
   optimum are drawn but left off it), and the fronts as a table;
8. **Why learned value + search falls short**: the shortfall split, as a table and ``shortfall_split.png``;
9. **Distilled students against their teachers**;
10. **Learning curves**: ``learning_curves.png``, the training episode return of the records'
    ``learning_curve`` (mean over seeds on their common steps), normalised with the trial's evaluation
    ``random_return`` and ``optimal_return`` where every trial of the panel has them, else raw;
11. failed trials, and a per-family summary of each agent's mean at each size.

Figures with a panel per environment draw at most ``_MAX_PANELS`` of them (and say so).

Grouping. Only trials with status ``"ok"`` enter tables and figures; failed trials are listed apart.
When a trial id appears on several lines (a rerun), its last line counts. Trials that share
``env_label`` and ``agent_label`` form a group (one setting on one environment, over seeds). An agent's
*kind* is the record's ``agent_kind`` (``policy``, ``search``, ``reference`` or null); records written
before that field existed take it from the agent class (``agents.agent_class(agent).kind``). Its
*group* is ``agent_group``, else ``agent_label``.

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
  count. "None in range" names the sizes compared.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import pathlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats as _scipy_stats

from benchmarks import stats

FIGURE_NAME = "normalized_return_vs_log2A.png"
"""File name of the scaling figure (normalised return against log2 |A|), written next to ``report.md``."""
OPTIMAL_RATE_FIGURE = "optimal_rate_vs_log2A.png"
IQM_FIGURE = "iqm.png"
ANYTIME_FIGURE = "anytime.png"
PARETO_FIGURE = "pareto.png"
SPLIT_FIGURE = "shortfall_split.png"
LEARNING_FIGURE = "learning_curves.png"
FIGURES = (FIGURE_NAME, OPTIMAL_RATE_FIGURE, IQM_FIGURE, ANYTIME_FIGURE, PARETO_FIGURE, SPLIT_FIGURE,
           LEARNING_FIGURE)
"""Every figure a report may write; one left from an earlier report that this one does not draw is removed."""
HTML_NAME = "report.html"

_REQUIRED_OK_KEYS = ("env_label", "env_family", "log2_actions", "agent_label", "seed", "metrics")
_REQUIRED_METRICS = ("return", "decision_ms", "evaluations_per_decision")
"""``normalized_return`` may be null: an environment without reference values (``optimal_value``,
``random_value``) has a raw return only, and the report shows that and leaves it out of the figures."""

_DPI = 110
_MAX_PAIRS = 45
"""The probability-of-improvement table lists at most this many agent pairs."""
_MAX_PANELS = 24
"""Figures with a panel per environment draw at most this many (the first, in table order), to stay
readable and quick; the caption says when some were left out."""


class Summary(NamedTuple):
    """Mean of ``n`` values with the half-width of its 95% Student-t interval (NaN when ``n == 1``)."""

    mean: float
    half_width: float
    n: int


# ---------------------------------------------------------------------------------------------
# Reading


def load_results(path) -> list[dict]:
    """The records of a ``results.jsonl`` file, in file order.

    Blank lines are skipped, and so is a truncated or malformed *last* line (a killed run may leave
    one). A malformed line anywhere else is corruption: ValueError naming the file and line number.
    A missing or unreadable file is a ValueError naming the path.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"results file not found: {path}") from None
    except OSError as e:
        raise ValueError(f"cannot read results file {path}: {e.strerror or e}") from None
    lines = [(number, raw) for number, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    records = []
    for i, (number, raw) in enumerate(lines):
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if i == len(lines) - 1:
                break  # a partial last line left by a killed run
            raise ValueError(f"{path}, line {number}: malformed record ({e})") from None
        records.append(record)
    return records


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
        import agents

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


def _metric(group: list[dict], name: str) -> list[float]:
    """The non-null values of ``metrics[name]`` over a group's seeds."""
    return [r["metrics"][name] for r in group if r["metrics"].get(name) is not None]


@dataclass
class Cell:
    """One (environment, agent setting) group over its seeds, with what the figures need."""

    env: str
    family: str
    log2: float
    agent: str
    kind: str | None
    group: str
    records: list[dict]
    norm: stats.Interval | None
    """Mean normalised return with its bootstrap interval; None without reference values."""
    rate: stats.Interval | None
    """Mean optimal rate with its bootstrap interval; None where it is null."""
    ms: float
    evals: float


def _cells(groups) -> list[Cell]:
    """A Cell per group, in table order."""
    cells = []
    for (env, agent), group in groups.items():
        norm, rate = _metric(group, "normalized_return"), _metric(group, "optimal_rate")
        first = group[0]
        cells.append(Cell(
            env=env, family=first["env_family"], log2=float(first["log2_actions"]), agent=agent,
            kind=agent_kind(first), group=agent_group(first), records=group,
            norm=stats.mean_ci(norm) if norm else None, rate=stats.mean_ci(rate) if rate else None,
            ms=float(np.mean(_metric(group, "decision_ms"))),
            evals=float(np.mean(_metric(group, "evaluations_per_decision")))))
    return cells


def _by(cells, *keys) -> dict:
    """Cells nested by the given attribute names, in first-appearance order: ``{k1: {k2: [cells]}}``."""
    out: dict = {}
    for cell in cells:
        node = out
        for key in keys[:-1]:
            node = node.setdefault(getattr(cell, key), {})
        node.setdefault(getattr(cell, keys[-1]), []).append(cell)
    return out


def _scaling(groups) -> dict[str, dict[str, list[tuple[float, Summary]]]]:
    """``family -> agent -> [(log2|A|, normalised-return summary)]`` sorted by ``log2|A|``."""
    out: dict[str, dict[str, list[tuple[float, Summary]]]] = {}
    for (_, agent), group in groups.items():
        values = _metric(group, "normalized_return")
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
    """Where one search setting falls below the best policy in one family (``search``/``policy`` None if never)."""

    family: str
    agent: str
    search: Cell | None
    policy: Cell | None
    sizes: list[float]
    """The sizes (log2 |A|) at which both the search and some policy have a normalised return."""
    no_interval: int
    """How many of those sizes could not be judged because the search or the best policy had one seed."""


def crossovers(cells: list[Cell]) -> tuple[list[Crossover], str]:
    """The crossover of every search setting in every family, and why the list is empty when it is.

    At each size (log2 |A|) that the search and some policy share, the best policy is the one with
    the highest mean normalised return; the crossover is the smallest size at which the upper bound of
    the search's 95% interval is below the lower bound of that policy's.
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
    best: dict[tuple[str, float], Cell] = {}
    for c in policies:
        key = (c.family, c.log2)
        if key not in best or c.norm.estimate > best[key].norm.estimate:
            best[key] = c
    rows = []
    for family, agents in _by(searches, "family", "agent").items():
        for agent, points in agents.items():
            points = sorted(points, key=lambda c: c.log2)
            shared = [c for c in points if (family, c.log2) in best]
            found, no_interval = None, 0
            for c in shared:
                policy = best[(family, c.log2)]
                if not (c.norm.has_interval and policy.norm.has_interval):
                    no_interval += 1
                elif c.norm.high < policy.norm.low:
                    found = (c, policy)
                    break
            rows.append(Crossover(family, agent, *(found or (None, None)), [c.log2 for c in shared], no_interval))
    return rows, ""


def _pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, quality) no other point beats: none is at most as costly and at
    least as good, and strictly better in one of the two. Sorted by cost."""
    front = []
    for i, (cost, quality) in enumerate(points):
        dominated = any(c <= cost and q >= quality and (c < cost or q > quality)
                        for j, (c, q) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


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


def _fmt_sig3(x: float) -> str:
    """``x`` to 3 significant digits without exponent notation (1234 → 1230, 0.01234 → 0.0123)."""
    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    x = float(f"{x:.3g}")
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


def _fmt_log2(x: float) -> str:
    return f"{x:g}"


def _fmt_size(x: float) -> str:
    """A log2 |A| for axis ticks: at most 3 significant digits."""
    return f"{x:.3g}"


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
        raw = summarize(_metric(group, "return"))
        norm_values = _metric(group, "normalized_return")
        norm = _fmt_ci(summarize(norm_values)) if norm_values else "—"
        rate_values = _metric(group, "optimal_rate")
        rate = _fmt_ci(summarize(rate_values)) if rate_values else "—"
        ms = float(np.mean(_metric(group, "decision_ms")))
        evals = float(np.mean(_metric(group, "evaluations_per_decision")))
        steps = float(np.mean([r.get("train_steps", 0) for r in group]))
        body.append([env, _fmt_log2(float(group[0]["log2_actions"])), agent, norm, _fmt_ci(raw, 4), rate,
                     _fmt_sig3(ms), f"{evals:,.0f}", f"{steps:,.0f}", str(raw.n)])
    return _rows(head, 3, body)


def _mean_ci(group: list[dict], name: str, digits: int = 3) -> str:
    values = _metric(group, name)
    return _fmt_ci(summarize(values), digits) if values else "—"


def _range(sizes: list[float]) -> str:
    if not sizes:
        return "no size shared with a policy"
    if len(sizes) == 1:
        return f"log2 |A| {_fmt_log2(sizes[0])} only"
    return f"log2 |A| {_fmt_log2(min(sizes))}–{_fmt_log2(max(sizes))}, {len(sizes)} sizes"


def _crossover_section(cells: list[Cell]) -> list[str]:
    rows, why = crossovers(cells)
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
    compared = [c for c in cells if c.norm is not None and c.kind in ("search", "policy")]
    fewest = min(len(_metric(c.records, "normalized_return")) for c in compared)
    if fewest < 5:
        lines += [f"Some of these groups have only {fewest} seed{'s' if fewest > 1 else ''}. With 2 or 3 seeds a "
                  "percentile bootstrap interval is the range of the seeds, much narrower than the Student-t "
                  "interval of the results table, so read a crossover from so few seeds as provisional.", ""]
    body = []
    for row in rows:
        if row.search is None:
            note = _range(row.sizes)
            if row.no_interval:
                note += f"; {row.no_interval} without an interval (one seed)"
            body.append([row.family, row.agent, f"None in range ({note})", "—", "—", "—", "—", "—"])
            continue
        s, p = row.search, row.policy
        body.append([row.family, row.agent, _fmt_log2(s.log2), _fmt_interval(s.norm), _fmt_sig3(s.ms),
                     f"{s.evals:,.0f}", p.agent, _fmt_interval(p.norm)])
    head = ["family", "search setting", "crossover at log2 |A|", "search: normalised return [95% CI]",
            "search: decision ms", "search: evals / decision", "fell below", "policy: normalised return [95% CI]"]
    return lines + [_rows(head, 2, body), ""]


def _split_section(groups) -> list[str]:
    """The shortfall split of every learned value + search group that logged one."""
    body = []
    for (env, agent), group in groups.items():
        if not _metric(group, "search_error"):
            continue
        body.append([env, agent, _mean_ci(group, "normalized_return"), _mean_ci(group, "search_error", 4),
                     _mean_ci(group, "value_error", 4), _distinct(r["metrics"].get("split_by") for r in group),
                     str(sum(r["metrics"].get("split_decisions") or 0 for r in group))])
    if not body:
        return []
    head = ["environment", "agent", "normalised return", "search error", "value error", "split by", "decisions"]
    return ["## Why learned value + search falls short", "",
            "On a sample of evaluation decisions, in reward units: **search error** `Q̂(a*_Q̂) − Q̂(a)` is what "
            "the search left of its own value's best; **value error** `r(a*) − r(a*_Q̂)` is what a perfect "
            "search of `Q̂` would still lose. `a*_Q̂` comes from the method under *split by*; with `100x budget` "
            "it is an estimate, and the search error can come out negative. Mean ± 95% Student-t half-width "
            "over seeds.", "",
            _rows(head, 2, body), ""]


def _distill_section(groups) -> list[str]:
    """Each distilled student beside its teacher, on the same held-out evaluation contexts."""
    body = []
    for (env, agent), group in groups.items():
        if not _metric(group, "teacher_normalized_return") and not _metric(group, "teacher_return"):
            continue
        teacher_ms = _metric(group, "teacher_decision_ms")
        teacher_evals = _metric(group, "teacher_evaluations_per_decision")
        body.append([env, agent, _mean_ci(group, "normalized_return"), _mean_ci(group, "teacher_normalized_return"),
                     _fmt_sig3(float(np.mean(_metric(group, "decision_ms")))),
                     _fmt_sig3(float(np.mean(teacher_ms))) if teacher_ms else "—",
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
        if not _metric(group, "normalized_return"):
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
        values = _metric(c.records, "normalized_return")
        if values:
            out.setdefault(c.agent, {})[c.env] = np.asarray(values, dtype=float)
    return out


def _poi_pairs(agents: list[str], kinds: dict[str, str | None]) -> tuple[list[tuple[str, str]], str]:
    """Which pairs to compare: each search against each policy when there are both, else all pairs."""
    searches = [a for a in agents if kinds[a] == "search"]
    policies = [a for a in agents if kinds[a] == "policy"]
    if searches and policies:
        return [(s, p) for s in searches for p in policies], "each search setting against each policy"
    pairs = [(a, b) for i, a in enumerate(agents) for b in agents[i + 1:]]
    return pairs, "every pair of agents, in suite order"


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

    pairs, which = _poi_pairs(agents, kinds)
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
# Plotting


def _capped(per_env: dict) -> tuple[dict, str]:
    """The first ``_MAX_PANELS`` environments of ``per_env``, and a caption note when there were more."""
    if len(per_env) <= _MAX_PANELS:
        return per_env, ""
    kept = dict(list(per_env.items())[:_MAX_PANELS])
    return kept, f" Only the first {_MAX_PANELS} of {len(per_env)} environments (in table order) are drawn."


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless and deterministic, whatever backend the caller had
    import matplotlib.pyplot as plt

    return plt


def _panels(n: int, ncols: int, width: float, height: float, **kwargs):
    """A figure with ``n`` visible panels of ``width`` × ``height`` inches in rows of ``ncols``:
    ``(fig, axes grid, the n panels)``. ``_save`` adds the margins around them."""
    plt = _pyplot()
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, axes, flat[:n]


def _plain_log_ticks(axis) -> None:
    """Label a log axis ``0.01, 1, 100`` in plain text, without minor ticks (both much quicker to draw)."""
    from matplotlib.ticker import FuncFormatter, NullLocator

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("e+0", "e").replace("e+", "e")))
    axis.set_minor_locator(NullLocator())


def _save(fig, path: pathlib.Path, legend: dict | None = None, ncol: int = 2, *, left: float = 0.75,
          wgap: float = 0.35, hgap: float = 0.9) -> pathlib.Path:
    """Add margins (in inches) around the panels, and a legend under them when given; write the PNG
    and close the figure. A fixed layout: much quicker than fitting one to the drawn text."""
    plt = _pyplot()
    try:
        nrows, ncols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
        width, height = fig.get_size_inches()
        ncol = max(1, min(ncol, len(legend or ())))
        legend_h = 0.22 * math.ceil(len(legend) / ncol) + 0.1 if legend else 0.0
        right, top, bottom = 0.25, 0.4, 0.6 + legend_h
        fig_w = width + left + right + (ncols - 1) * wgap
        fig_h = height + top + bottom + (nrows - 1) * hgap
        fig.set_size_inches(fig_w, fig_h)
        fig.subplots_adjust(left=left / fig_w, right=1 - right / fig_w, top=1 - top / fig_h, bottom=bottom / fig_h,
                            wspace=wgap / (width / ncols), hspace=hgap / (height / nrows))
        if legend:
            fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=ncol, fontsize=8,
                       frameon=False, bbox_to_anchor=(0.5, 0.02 / fig_h))
        fig.savefig(path, dpi=_DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def _label_width(labels, fontsize: float) -> float:
    """Inches the longest of the tick labels needs, roughly (0.55 of the font size per character)."""
    return 0.25 + 0.55 * fontsize / 72 * max((len(str(t)) for t in labels), default=0)


_KIND_STYLE = {"search": "-", "policy": "--", "reference": ":"}
_KIND_MARKER = {"search": "o", "policy": "s", "reference": "^"}


def _style(agents, kinds) -> dict[str, dict]:
    """A colour (and a line style by kind) per agent, the same in every figure."""
    palette = "tab10" if len(agents) <= 10 else "tab20"
    plt = _pyplot()
    cmap = plt.get_cmap(palette)
    return {a: {"color": cmap(i % cmap.N), "linestyle": _KIND_STYLE.get(kinds.get(a), "-.")}
            for i, a in enumerate(agents)}


def _band(ax, x, intervals, style, label):
    """A mean line with markers and its interval as a shaded band (error bars for a single point)."""
    x = np.asarray(x, dtype=float)
    y = np.array([iv.estimate for iv in intervals])
    lo = np.array([iv.low for iv in intervals])
    hi = np.array([iv.high for iv in intervals])
    (line,) = ax.plot(x, y, marker="o", markersize=4, label=label, **style)
    has = np.isfinite(lo) & np.isfinite(hi)
    if x.size == 1:
        if has[0]:
            ax.errorbar(x, y, yerr=[[y[0] - lo[0]], [hi[0] - y[0]]], color=style["color"], capsize=3)
    elif has.any():
        ax.fill_between(x, np.where(has, lo, y), np.where(has, hi, y), color=style["color"], alpha=0.18,
                        linewidth=0)
    return line


def plot_scaling(curves: dict[str, dict[str, list[Cell]]], path, *, metric: str = "norm",
                 ylabel: str = "normalised return", styles: dict | None = None) -> pathlib.Path:
    """A crossover figure: ``metric`` (``"norm"`` or ``"rate"``) against log2 |A|, one panel per
    family, one line per agent, shaded 95% bootstrap bands over seeds."""
    path = pathlib.Path(path)
    families = list(curves)
    agents = list(dict.fromkeys(a for fam in families for a in curves[fam]))
    if styles is None:
        kinds = {c.agent: c.kind for fam in curves.values() for cs in fam.values() for c in cs}
        styles = _style(agents, kinds)
    fig, axes, panels = _panels(len(families), 3, 4.3, 3.0, sharey=True)
    legend = {}
    for ax, family in zip(panels, families, strict=True):
        for agent, points in curves[family].items():
            legend[agent] = _band(ax, [c.log2 for c in points], [getattr(c, metric) for c in points],
                                  styles[agent], agent)
        for level in (0.0, 1.0):
            ax.axhline(level, color="0.6", linewidth=0.8, linestyle="--", zorder=0)
        sizes = sorted({c.log2 for points in curves[family].values() for c in points})
        ax.set_title(family, fontsize=10)
        ax.set_xlabel("log2 |A|")
        if min(sizes) > 0:
            ax.set_xscale("log", base=2)  # sizes are usually swept geometrically
        ax.set_xticks(sizes, [_fmt_size(x) for x in sizes])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    return _save(fig, path, {a: legend[a] for a in agents})


def plot_iqm(intervals: list[tuple[str, stats.Interval]], path, styles: dict | None = None) -> pathlib.Path:
    """One row per agent: its IQM (point) and 95% interval (bar)."""
    fig, _, (ax,) = _panels(1, 1, 5.0, 0.3 + 0.3 * len(intervals))
    for i, (agent, iv) in enumerate(intervals):
        if iv.has_interval:
            color = (styles or {}).get(agent, {}).get("color", "C0")
            ax.plot([iv.low, iv.high], [i, i], color=color, linewidth=6, alpha=0.6, solid_capstyle="butt")
        ax.plot([iv.estimate], [i], marker="|", markersize=14, color="k")
    ax.set_yticks(range(len(intervals)), [a for a, _ in intervals], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("IQM of normalised return")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path, left=_label_width([a for a, _ in intervals], 8))


def _anytime_data(cells: list[Cell]):
    """``env -> (search lines {group: [cells by evaluations]}, horizontal cells)`` for envs where some
    search ``agent_group`` was run at two or more settings (budgets)."""
    out = {}
    for env, env_cells in _by([c for c in cells if c.norm is not None], "env").items():
        lines = {}
        for group, members in _by([c for c in env_cells if c.kind == "search"], "group").items():
            if len({c.agent for c in members}) >= 2:
                lines[group] = sorted(members, key=lambda c: c.evals)
        if lines:
            out[env] = (lines, [c for c in env_cells if c.kind in ("policy", "reference")])
    return out


def plot_anytime(data, path, styles: dict) -> pathlib.Path:
    """Normalised return against evaluations per decision (log x), one panel per environment."""
    fig, axes, panels = _panels(len(data), 2, 5.2, 3.4, sharey=True)
    legend = {}
    for ax, (env, (lines, flat)) in zip(panels, data.items(), strict=True):
        xs = []
        for group, points in lines.items():
            points = [c for c in points if c.evals > 0]
            if not points:
                continue
            xs += [c.evals for c in points]
            color = styles[points[0].agent]["color"]  # the colour of its first setting in the other figures
            legend[group] = _band(ax, [c.evals for c in points], [c.norm for c in points],
                                  {"color": color, "linestyle": "-"}, group)
        # policies and references do not search: a level each, labelled with its own decision cost
        levels = [ax.axhline(c.norm.estimate, color=styles[c.agent]["color"], linewidth=1.2,
                             linestyle=_KIND_STYLE.get(c.kind, "-."), label=f"{c.agent} ({_fmt_sig3(c.ms)} ms)")
                  for c in flat]
        low, high = min([10.0, *(x / 1.5 for x in xs)]), max([1e6, *(x * 1.5 for x in xs)])
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_xlim(low, high)
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("evaluations per decision")
        ax.grid(True, alpha=0.3)
        if levels:
            ax.legend(handles=levels, fontsize=6.5, loc="best", framealpha=0.8)
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised return")
    return _save(fig, path, legend)


def _front_of(points: list[Cell], xy) -> list[int]:
    """The Pareto front of the non-reference points (references, such as an oracle that knows the
    optimum, are drawn but cannot be on it): indices into ``points``, cheapest first."""
    idx = [i for i, c in enumerate(points) if c.kind != "reference"]
    return [idx[j] for j in _pareto_front([tuple(xy[i]) for i in idx])]


def plot_pareto(by_env: dict[str, list[Cell]], path, styles: dict) -> pathlib.Path:
    """Decision ms (log x) against normalised return, one panel per environment, front marked."""
    from matplotlib.lines import Line2D

    fig, _, panels = _panels(len(by_env), 3, 4.4, 3.3)
    legend = {}
    for ax, (env, points) in zip(panels, by_env.items(), strict=True):
        xy = np.array([(max(c.ms, 1e-6), c.norm.estimate) for c in points])
        for kind in dict.fromkeys(c.kind for c in points):  # one scatter per marker, not per point
            idx = [i for i, c in enumerate(points) if c.kind == kind]
            ax.scatter(xy[idx, 0], xy[idx, 1], color=[styles[points[i].agent]["color"] for i in idx],
                       marker=_KIND_MARKER.get(kind, "D"), s=28, zorder=3)
        for c in points:
            legend.setdefault(c.agent, Line2D([], [], color=styles[c.agent]["color"], linestyle="none",
                                              marker=_KIND_MARKER.get(c.kind, "D")))
        front = _front_of(points, xy)
        ax.plot(xy[front, 0], xy[front, 1], color="k", linewidth=0.9, drawstyle="steps-post", zorder=2)
        ax.scatter(xy[front, 0], xy[front, 1], s=90, facecolors="none", edgecolors="k", linewidths=1.0, zorder=4)
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_title(env, fontsize=9)
        ax.set_xlabel("decision ms")
        ax.set_ylabel("normalised return")
        ax.grid(True, alpha=0.3)
    return _save(fig, path, legend, wgap=0.75)


def _pareto_section(cells: list[Cell], run_dir: pathlib.Path, figures: list, styles: dict) -> list[str]:
    by_env = _by([c for c in cells if c.norm is not None], "env")
    if not by_env:
        return []
    drawn, note = _capped(by_env)
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
        front = " → ".join(f"{points[i].agent} ({_fmt_sig3(points[i].ms)} ms, {points[i].norm.estimate:.2f})"
                           for i in _front_of(points, xy)) or "— (references only)"
        body.append([env, front])
    return ["## Compute against quality", "", f"![decision ms against normalised return]({PARETO_FIGURE})", "",
            caption, "", "The front of each environment, cheapest first:", "",
            _rows(["environment", "Pareto front (decision ms, normalised return)"], 2, body), ""]


def plot_split(data: dict[str, list[Cell]], path) -> pathlib.Path:
    """Search error beside value error (horizontal bars, 95% bootstrap whiskers), one panel per family."""
    tallest = max(len(v) for v in data.values())
    labels = {family: [f"{c.agent} @ log2 |A| {_fmt_size(c.log2)}" for c in cells] for family, cells in data.items()}
    label_width = _label_width([t for texts in labels.values() for t in texts], 7)
    fig, _, panels = _panels(len(data), 2, 4.5, 0.3 + 0.42 * tallest)
    legend = {}
    for ax, (family, cells) in zip(panels, data.items(), strict=True):
        y = np.arange(len(cells))
        for offset, (name, color, label) in zip((-0.2, 0.2), (("search_error", "C0", "search error"),
                                                               ("value_error", "C3", "value error")), strict=True):
            ivs = [stats.mean_ci(v) if (v := _metric(c.records, name)) else None for c in cells]
            width = [iv.estimate if iv else 0.0 for iv in ivs]
            err = np.array([[iv.estimate - iv.low, iv.high - iv.estimate] if iv and iv.has_interval else [0, 0]
                            for iv in ivs]).T
            legend[label] = ax.barh(y + offset, width, height=0.38, color=color, xerr=err,
                                    error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_yticks(y, labels[family], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="0.4", linewidth=0.8)
        ax.set_title(family, fontsize=10)
        ax.set_xlabel("reward units")
        ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path, legend, left=label_width, wgap=label_width + 0.3)


def _learning_data(records: list[dict]):
    """``env -> agent -> [(steps, values, (random_return, optimal_return) or None)]`` from the records'
    ``learning_curve`` (sorted by step, non-finite points dropped), and per env whether every curve in it
    can be normalised."""
    out: dict[str, dict[str, list]] = {}
    for r in records:
        curve = r.get("learning_curve")
        if not isinstance(curve, dict):
            continue
        try:
            steps = np.asarray(curve.get("steps") or [], dtype=float)
            values = np.asarray(curve.get("values") or [], dtype=float)
        except (TypeError, ValueError):  # not numbers: not a curve this report can draw
            continue
        keep = np.isfinite(steps) & np.isfinite(values) if steps.shape == values.shape else None
        if keep is None or not keep.any():
            continue
        order = np.argsort(steps[keep], kind="stable")
        steps, values = steps[keep][order], values[keep][order]
        m = r["metrics"]
        low, high = m.get("random_return"), m.get("optimal_return")
        scale = (low, high) if low is not None and high is not None and high != low else None
        out.setdefault(r["env_label"], {}).setdefault(r["agent_label"], []).append((steps, values, scale))
    normalised = {env: all(s is not None for runs in agents.values() for *_, s in runs) for env, agents in out.items()}
    return out, normalised


def _mean_curve(runs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeds' curves on a common step grid (the union of their steps within the span all of them
    cover, each interpolated linearly): ``(grid, mean, min, max)``."""
    lo = max(s[0] for s, _ in runs)
    hi = min(s[-1] for s, _ in runs)
    if lo < hi:
        grid = np.unique(np.concatenate([s[(s >= lo) & (s <= hi)] for s, _ in runs]))
    else:  # spans that do not overlap: the longest curve's steps, the others held at their ends
        grid = max((s for s, _ in runs), key=len)
    ys = np.stack([np.interp(grid, s, v) for s, v in runs])
    return grid, ys.mean(axis=0), ys.min(axis=0), ys.max(axis=0)


def plot_learning(data, normalised: dict[str, bool], path, styles: dict) -> pathlib.Path:
    """Training episode return against environment steps, one panel per env, one line per agent."""
    fig, _, panels = _panels(len(data), 3, 4.3, 3.0)
    legend = {}
    for ax, (env, agents) in zip(panels, data.items(), strict=True):
        for agent, runs in agents.items():
            if normalised[env]:
                runs = [(s, (v - scale[0]) / (scale[1] - scale[0])) for s, v, scale in runs]
            else:
                runs = [(s, v) for s, v, _ in runs]
            grid, mean, low, high = _mean_curve(runs)
            style = styles.get(agent, {"color": "C0", "linestyle": "-"})
            (legend[agent],) = ax.plot(grid, mean, color=style["color"], linestyle="-", linewidth=1.3)
            if len(runs) > 1:
                ax.fill_between(grid, low, high, color=style["color"], alpha=0.15, linewidth=0)
        ax.set_title(env, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("normalised training return" if normalised[env] else "training episode return")
        ax.grid(True, alpha=0.3)
    return _save(fig, path, legend, wgap=0.75)


def _learning_section(records: list[dict], run_dir: pathlib.Path, figures: list, styles: dict) -> list[str]:
    data, normalised = _learning_data(records)
    if not data:
        return []
    drawn, note = _capped(data)
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
# HTML


def _inline_html(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", text)


def _table_cells(line: str) -> list[str]:
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def markdown_to_html(markdown: str, run_dir: pathlib.Path, title: str = "report") -> str:
    """The report's markdown (headings, paragraphs, lists, pipe tables, images) as one HTML page with the
    images embedded as base64 data URIs. Only the subset this module writes is understood."""
    out, para, lines = [], [], markdown.splitlines()

    def flush():
        if para:
            out.append("<p>" + _inline_html(" ".join(para)) + "</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        image = re.fullmatch(r"!\[(.*)\]\((.+)\)", line.strip())
        if not line.strip():
            flush()
        elif m := re.match(r"(#{1,6}) (.*)", line):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline_html(m.group(2))}</h{level}>")
        elif image:
            flush()
            file = run_dir / image.group(2)
            src = (f"data:image/png;base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"
                   if file.is_file() else html.escape(image.group(2)))
            out.append(f'<p><img src="{src}" alt="{html.escape(image.group(1))}"></p>')
        elif line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(\s*-+:?\s*\|)+", lines[i + 1]):
            flush()
            right = [c.endswith(":") for c in _table_cells(lines[i + 1])]
            head = "".join(f"<th>{_inline_html(c)}</th>" for c in _table_cells(line))
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = _table_cells(lines[i])
                rows.append("<tr>" + "".join(
                    f'<td{" class=num" if j < len(right) and right[j] else ""}>{_inline_html(c)}</td>'
                    for j, c in enumerate(cells)) + "</tr>")
                i += 1
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
            continue
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline_html(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        else:
            para.append(line.strip())
        i += 1
    flush()
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
             "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}td.num{text-align:right}"
             "th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 3px}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(out) + "\n</body></html>\n")


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
    styles = _style(agents, {c.agent: c.kind for c in cells})
    figures: list[tuple[str, str]] = []  # (file, caption), in report order
    body: list[str] = []

    if groups:
        body += _crossover_section(cells)
        body += ["## Results", "",
                 "Mean ± 95% Student-t half-width over seeds (n/a for a single seed); decision ms and evaluations "
                 "are means. The figures and the crossover table use bootstrap intervals instead (see there).", "",
                 format_table(groups), ""]
        notes = _reference_notes(groups)
        body += [*notes, ""] if notes else []

    curves = {fam: {a: sorted(cs, key=lambda c: c.log2) for a, cs in agents_.items()}
              for fam, agents_ in _by([c for c in cells if c.norm is not None], "family", "agent").items()}
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
                 for fam, agents_ in _by([c for c in cells if c.rate is not None], "family", "agent").items()}
        if rates:
            plot_scaling(rates, run_dir / OPTIMAL_RATE_FIGURE, metric="rate", ylabel="optimal rate", styles=styles)
            caption = ("Optimal rate (the fraction of decisions that reached the optimum) against log2 |A|, drawn "
                       "like the figure above, for the groups where it is defined (an exact optimum per decision).")
            figures.append((OPTIMAL_RATE_FIGURE, caption))
            body += [f"![optimal rate against log2 |A|]({OPTIMAL_RATE_FIGURE})", "", caption, ""]

    body += _aggregate_section(cells, run_dir, figures, styles)

    anytime = _anytime_data(cells)
    if anytime:
        drawn, note = _capped(anytime)
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
    split_cells = _by([c for c in cells if _metric(c.records, "search_error")], "family")  # the table's groups
    if split_cells:
        plot_split(split_cells, run_dir / SPLIT_FIGURE)
        caption = ("Search error (blue) beside value error (red) per environment size and agent, means over seeds "
                   "with 95% bootstrap whiskers, one panel per family.")
        figures.append((SPLIT_FIGURE, caption))
        split += [f"![search error and value error]({SPLIT_FIGURE})", "", caption, ""]
    body += split
    body += _distill_section(groups)
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
