"""A suite's report, computed from its ``results.jsonl`` alone.

``write_report(run_dir)`` reads ``run_dir/results.jsonl`` (one JSON object per finished trial, see
``docs/results.md``) and writes ``run_dir/report.md`` plus a figure,
``normalized_return_vs_log2A.png``: normalised return against ``log2 |A|``, one line per agent,
one panel per environment family. Every number the report shows is computed here from the records;
nothing is typed in by hand.

Statistics are over seeds: trials that share ``env_label`` and ``agent_label`` form a group, and a
group's score is the mean over its seeds with a 95% Student-t interval
(``t.ppf(0.975, k - 1) * std(ddof=1) / sqrt(k)`` for ``k`` seeds; none for a single seed).
Only trials with status ``"ok"`` enter the table and the figure; failed trials are listed apart.
When a trial id appears on several lines (a rerun), its last line counts.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections import Counter
from typing import NamedTuple

import numpy as np
from scipy import stats

FIGURE_NAME = "normalized_return_vs_log2A.png"
"""File name of the scaling figure, written next to ``report.md``."""

_REQUIRED_OK_KEYS = ("env_label", "env_family", "log2_actions", "agent_label", "seed", "metrics")
_REQUIRED_METRICS = ("return", "decision_ms", "evaluations_per_decision")
"""``normalized_return`` may be null: an environment without reference values (``optimal_value``,
``random_value``) has a raw return only, and the report shows that and leaves it out of the figure."""


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
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
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


# ---------------------------------------------------------------------------------------------
# Formatting


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _fmt_ci(s: Summary, digits: int = 3) -> str:
    half = "n/a" if math.isnan(s.half_width) else f"{s.half_width:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {half}"


def _fmt_sig3(x: float) -> str:
    """``x`` to 3 significant digits without exponent notation (1234 → 1230, 0.01234 → 0.0123)."""
    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    x = float(f"{x:.3g}")
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


def _fmt_log2(x: float) -> str:
    return f"{x:g}"


def _distinct(values) -> str:
    """``a`` when all values agree, else ``a (5 trials), b (3 trials)``."""
    counts = Counter(str(v) for v in values)
    if len(counts) <= 1:
        return next(iter(counts), "unknown")
    return ", ".join(f"{v} ({c} trials)" for v, c in counts.most_common())


def format_table(groups) -> str:
    """The main table, one row per (environment, agent) group, as markdown."""
    head = ["environment", "log2 |A|", "agent", "normalised return", "return", "optimal rate", "decision ms",
            "evals / decision", "train steps", "seeds"]
    rows = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * 3 + "---:|" * 7]
    for (env, agent), group in groups.items():
        raw = summarize(_metric(group, "return"))
        norm_values = _metric(group, "normalized_return")
        norm = _fmt_ci(summarize(norm_values)) if norm_values else "—"
        rate_values = _metric(group, "optimal_rate")
        rate = _fmt_ci(summarize(rate_values)) if rate_values else "—"
        ms = float(np.mean(_metric(group, "decision_ms")))
        evals = float(np.mean(_metric(group, "evaluations_per_decision")))
        steps = float(np.mean([r.get("train_steps", 0) for r in group]))
        cells = [env, _fmt_log2(float(group[0]["log2_actions"])), agent, norm, _fmt_ci(raw, 4), rate,
                 _fmt_sig3(ms), f"{evals:,.0f}", f"{steps:,.0f}", str(raw.n)]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def _rows(head: list[str], numeric_from: int, body: list[list]) -> str:
    rows = ["| " + " | ".join(_cell(h) for h in head) + " |",
            "|" + "---|" * numeric_from + "---:|" * (len(head) - numeric_from)]
    return "\n".join(rows + ["| " + " | ".join(_cell(c) for c in cells) + " |" for cells in body])


def _mean_ci(group: list[dict], name: str, digits: int = 3) -> str:
    values = _metric(group, name)
    return _fmt_ci(summarize(values), digits) if values else "—"


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
            "it is an estimate, and the search error can come out negative.", "",
            _rows(head, 2, body), ""]


def _distill_section(groups) -> list[str]:
    """Each distilled student beside its teacher, on the same held-out evaluation contexts."""
    body = []
    for (env, agent), group in groups.items():
        if not _metric(group, "teacher_normalized_return") and not _metric(group, "teacher_return"):
            continue
        body.append([env, agent, _mean_ci(group, "normalized_return"), _mean_ci(group, "teacher_normalized_return"),
                     _fmt_sig3(float(np.mean(_metric(group, "decision_ms")))),
                     _fmt_sig3(float(np.mean(_metric(group, "teacher_decision_ms")))),
                     f"{float(np.mean(_metric(group, 'teacher_evaluations_per_decision'))):,.0f}",
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
            "decisions.", "",
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


def _figure_caption(groups) -> str:
    ends = {}
    for group in groups.values():
        if not _metric(group, "normalized_return"):
            continue
        ref = group[0].get("reference") or {}
        ends.setdefault(group[0]["env_family"], (ref.get("high", "?"), ref.get("low", "?")))
    if len(set(ends.values())) == 1:
        high, low = next(iter(ends.values()))
        scale = f"1.0 = {high}, 0.0 = {low}"
    else:
        scale = "; ".join(f"{fam}: 1.0 = {hi}, 0.0 = {lo}" for fam, (hi, lo) in ends.items())
    return (f"How to read it: normalised return ({scale}) against log2 |A|, one line per agent, "
            "error bars = 95% CI over seeds, one panel per environment family.")


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
# Plotting


def plot_scaling(scaling, path) -> pathlib.Path:
    """Normalised return against log2 |A|: one panel per family, one line per agent, 95% CI bars."""
    import matplotlib

    matplotlib.use("Agg")  # headless and deterministic, whatever backend the caller had
    import matplotlib.pyplot as plt

    path = pathlib.Path(path)
    families = list(scaling)
    agents = list(dict.fromkeys(a for fam in families for a in scaling[fam]))
    colors = {a: f"C{i % 10}" for i, a in enumerate(agents)}
    ncols = min(3, len(families))
    nrows = math.ceil(len(families) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.8 * nrows), squeeze=False,
                             sharey=True)
    handles = {}
    try:
        for ax, family in zip(axes.flat, families, strict=False):  # spare axes hidden below
            for agent, points in scaling[family].items():
                x = [p[0] for p in points]
                y = [p[1].mean for p in points]
                err = np.nan_to_num([p[1].half_width for p in points], nan=0.0)  # one seed: no bar
                handles[agent] = ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colors[agent])
            for level in (0.0, 1.0):
                ax.axhline(level, color="0.6", linewidth=0.8, linestyle="--", zorder=0)
            ax.set_title(family, fontsize=10)
            ax.set_xlabel("log2 |A|")
            ax.set_xscale("log", base=2)  # sizes are usually swept geometrically
            sizes = sorted({p[0] for points in scaling[family].values() for p in points})
            ax.set_xticks(sizes, [_fmt_log2(x) for x in sizes])
            ax.minorticks_off()
            ax.grid(True, alpha=0.3)
        for ax in axes[:, 0]:
            ax.set_ylabel("normalised return")
        for ax in list(axes.flat)[len(families):]:
            ax.set_visible(False)
        fig.legend([handles[a] for a in agents], agents, loc="lower center", ncol=min(2, len(agents)),
                   fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.06 + 0.03 * math.ceil(len(agents) / 2), 1, 1))
        fig.savefig(path, dpi=110, metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# The report


def write_report(run_dir, *, results_name: str = "results.jsonl") -> pathlib.Path:
    """Write ``run_dir/report.md`` (and its figure) from ``run_dir/results_name``; return its path."""
    run_dir = pathlib.Path(run_dir)
    results_path = run_dir / results_name
    records = latest_per_trial(load_results(results_path))
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    for r in ok:
        _check_ok_record(r, str(results_path))
    groups = group_trials(ok)

    lines = [_header(records, ok, failed, results_name), ""]
    scaling = _scaling(groups)
    if groups:
        lines += ["## Results", "",
                  "Mean ± 95% CI half-width over seeds; decision ms and evaluations are means.", "",
                  format_table(groups), ""]
        notes = _reference_notes(groups)
        lines += [*notes, ""] if notes else []
    if scaling:
        figure = plot_scaling(scaling, run_dir / FIGURE_NAME)
        lines += ["## Scaling with the action space", "",
                  f"![normalised return against log2 |A|]({figure.name})", "",
                  _figure_caption(groups), ""]
    lines += _split_section(groups) + _distill_section(groups)
    if not groups:
        lines += ["No trial finished ok, so there is no table or figure.", ""]
    lines += _failed_section(failed)
    if scaling:
        lines += ["## Where each agent stands", "",
                  "Mean normalised return of each agent at each action-space size, per family:", "",
                  *_standings(scaling), ""]

    report = run_dir / "report.md"
    report.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    return report
