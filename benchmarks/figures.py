"""The report's figures, drawn with matplotlib (headless, the Agg backend) to PNG files.

``benchmarks.report`` decides which figures a report has, writes their captions and names their files
(``benchmarks.report.FIGURES``); each ``plot_*`` function here draws one figure to the path it is given and
returns that path. The figures, each drawn only when the records hold what it shows:

- ``plot_scaling`` (``normalized_return_vs_log2A.png``, ``optimal_rate_vs_log2A.png``): normalised return,
  or optimal rate, against log2 |A|, one panel per environment family, one line per agent: the mean over
  seeds with its 95% bootstrap band (error bars for a family run at one size), guides at 0 and 1;
- ``plot_iqm`` (``iqm.png``): one row per agent, the IQM of its normalised return over its tasks (tick)
  with its 95% stratified-bootstrap interval (bar);
- ``plot_anytime`` (``anytime.png``): normalised return against evaluations per decision (log x), one
  panel per environment, one line with its band per search ``agent_group`` run at several budgets, and
  the policies and references as horizontal lines labelled with their decision ms (``anytime_data``
  chooses the environments and lines);
- ``plot_pareto`` (``pareto.png``): decision ms (log x) against mean normalised return, one point per agent
  setting, its marker by kind (circle search, square policy, triangle reference, diamond no known kind),
  one panel per environment, with the Pareto front of the search and policy settings circled and joined
  by a step line;
- ``plot_split`` (``shortfall_split.png``): search error beside value error in reward units, one pair of
  horizontal bars with 95% bootstrap whiskers per agent and size, one panel per family;
- ``plot_learning`` (``learning_curves.png``): training episode return against environment steps, one
  panel per environment, one line per agent (the mean over seeds on their common steps, shaded by the
  range over seeds), normalised where every curve of the panel can be (``learning_data``);
- ``plot_crossover_budget`` (``crossover_vs_budget.png``): each search setting's crossover log2 |A|
  against the training budget (log x), one panel per family, a hollow marker on a dotted line at the top
  of the size range where there is none in range;
- ``plot_sample_efficiency`` (``sample_efficiency.png``): normalised return against the training budget
  (log x), one panel per environment, one line with its band per learning ``agent_setting``, and the
  agents that do not learn as dashed horizontal lines (``sample_efficiency_data``).

An agent has the same colour in every figure, and lines a style by its kind (solid search, dashed
policies, dotted references, dash-dotted agents of no known kind): ``agent_styles``. The two figures
against the training budget colour each ``agent_setting`` instead (one line across its budgets), solid.
Figures with a panel per environment draw at most ``MAX_PANELS`` of them (``cap_panels``). The layout is
fixed, margins in inches around panels of a set size (``_save``), which is much quicker than fitting it
to the drawn text.
matplotlib is imported on first use, so importing this module (or ``benchmarks.report``) does not load it.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np

from standin.benchmarks import stats
from standin.benchmarks.cells import Cell, fmt_sig3, front_of, metric_values, nest_by

_DPI = 110
MAX_PANELS = 24
"""Figures with a panel per environment draw at most this many (the first, in table order), to stay
readable and quick; the caption says when some were left out."""
_KIND_STYLE = {"search": "-", "policy": "--", "reference": ":"}
_KIND_MARKER = {"search": "o", "policy": "s", "reference": "^"}


# ---------------------------------------------------------------------------------------------
# Layout and style


def cap_panels(per_env: dict) -> tuple[dict, str]:
    """The first ``MAX_PANELS`` environments of ``per_env``, and a caption note when there were more."""
    if len(per_env) <= MAX_PANELS:
        return per_env, ""
    kept = dict(list(per_env.items())[:MAX_PANELS])
    return kept, f" Only the first {MAX_PANELS} of {len(per_env)} environments (in table order) are drawn."


def _pyplot():
    """``matplotlib.pyplot`` on the Agg backend, imported on first use."""
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


def _label_panel(ax, title: str, xlabel: str, ylabel: str) -> None:
    """A panel's title (its environment), axis labels and light grid."""
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def _label_width(labels, fontsize: float) -> float:
    """Inches the longest of the tick labels needs, roughly (0.55 of the font size per character)."""
    return 0.25 + 0.55 * fontsize / 72 * max((len(str(t)) for t in labels), default=0)


def agent_styles(agents, kinds) -> dict[str, dict]:
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


def _fmt_size(x: float) -> str:
    """A log2 |A| for axis ticks: an integer as it is (1024, not 1.02e+03), else 3 significant digits."""
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.3g}"


# ---------------------------------------------------------------------------------------------
# The figures


def plot_scaling(curves: dict[str, dict[str, list[Cell]]], path, *, metric: str = "norm",
                 ylabel: str = "normalised return", styles: dict | None = None) -> pathlib.Path:
    """A crossover figure: ``metric`` (``"norm"`` or ``"rate"``) against log2 |A|, one panel per
    family, one line per agent, shaded 95% bootstrap bands over seeds."""
    path = pathlib.Path(path)
    families = list(curves)
    agents = list(dict.fromkeys(a for fam in families for a in curves[fam]))
    if styles is None:
        kinds = {c.agent: c.kind for fam in curves.values() for cs in fam.values() for c in cs}
        styles = agent_styles(agents, kinds)
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


def anytime_data(cells: list[Cell]):
    """``env -> (search lines {group: [cells by evaluations]}, horizontal cells)`` for envs where some
    search ``agent_group`` was run at two or more settings (budgets)."""
    out = {}
    for env, env_cells in nest_by([c for c in cells if c.norm is not None], "env").items():
        lines = {}
        for group, members in nest_by([c for c in env_cells if c.kind == "search"], "group").items():
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
                             linestyle=_KIND_STYLE.get(c.kind, "-."), label=f"{c.agent} ({fmt_sig3(c.ms)} ms)")
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
        front = front_of(points, xy)
        ax.plot(xy[front, 0], xy[front, 1], color="k", linewidth=0.9, drawstyle="steps-post", zorder=2)
        ax.scatter(xy[front, 0], xy[front, 1], s=90, facecolors="none", edgecolors="k", linewidths=1.0, zorder=4)
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        _label_panel(ax, env, "decision ms", "normalised return")
    return _save(fig, path, legend, wgap=0.75)


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
            ivs = [stats.mean_ci(v) if (v := metric_values(c.records, name)) else None for c in cells]
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


def learning_data(records: list[dict]):
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


def mean_curve(runs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
            grid, mean, low, high = mean_curve(runs)
            style = styles.get(agent, {"color": "C0", "linestyle": "-"})
            (legend[agent],) = ax.plot(grid, mean, color=style["color"], linestyle="-", linewidth=1.3)
            if len(runs) > 1:
                ax.fill_between(grid, low, high, color=style["color"], alpha=0.15, linewidth=0)
        _label_panel(ax, env, "environment steps",
                     "normalised training return" if normalised[env] else "training episode return")
    return _save(fig, path, legend, wgap=0.75)


def fmt_steps(steps: float) -> str:
    """A training budget as the suites' labels show it: ``20000`` → ``20k``, ``1000000`` → ``1M``."""
    for unit, size in (("M", 10**6), ("k", 10**3)):
        if steps >= size:
            return f"{steps / size:.3g}{unit}"
    return f"{steps:g}"


def _budget_axis(ax, budgets) -> None:
    """A log x axis of training budgets, ticked at the budgets run."""
    ax.set_xscale("log")
    ax.set_xticks(budgets, [fmt_steps(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("training budget (environment steps)")


def plot_crossover_budget(data: dict[str, dict[str, list[tuple[int, float | None]]]], tops: dict[str, float],
                          path, styles: dict) -> pathlib.Path:
    """Crossover log2 |A| against the training budget (log x), one panel per family, one line per search
    setting. A budget without a crossover in range is a hollow marker on a dotted line at ``tops[family]``,
    the largest size compared there."""
    from matplotlib.lines import Line2D

    fig, _, panels = _panels(len(data), 3, 4.3, 3.0)
    legend = {}
    for ax, (family, settings) in zip(panels, data.items(), strict=True):
        top = tops[family]
        for setting, points in settings.items():
            if not points:
                continue
            color = styles.get(setting, {}).get("color", "C0")
            x = np.array([b for b, _ in points], dtype=float)
            y = np.array([top if v is None else v for _, v in points], dtype=float)
            none = np.array([v is None for _, v in points])
            ax.plot(x, y, color=color, linewidth=1.3)
            ax.scatter(x[~none], y[~none], color=color, s=22, zorder=3)
            ax.scatter(x[none], y[none], facecolors="white", edgecolors=color, linewidths=1.3, s=40, zorder=3)
            legend[setting] = Line2D([], [], color=color, marker="o", markersize=4)
        ax.axhline(top, color="0.5", linewidth=0.8, linestyle=":", zorder=0)
        ax.annotate(f"○ none in range (up to {_fmt_size(top)})", xy=(0.02, top),
                    xycoords=("axes fraction", "data"), xytext=(0, 4), textcoords="offset points", fontsize=7,
                    color="0.3", va="bottom")
        ax.margins(x=0.1, y=0.2)
        _budget_axis(ax, sorted({b for points in settings.values() for b, _ in points}))
        ax.set_ylabel("crossover log2 |A|")
        ax.set_title(family, fontsize=10)
        ax.grid(True, alpha=0.3)
    return _save(fig, path, legend, wgap=0.75)


def sample_efficiency_data(cells: list[Cell]):
    """``env -> (lines {agent_setting: [cells by budget]}, cells that do not learn)`` on the normalised
    scale, for the environments where some agent learns (a training budget above 0)."""
    out = {}
    for env, env_cells in nest_by([c for c in cells if c.norm is not None], "env").items():
        learners = nest_by([c for c in env_cells if c.budget > 0], "setting")
        if learners:
            lines = {setting: sorted(members, key=lambda c: c.budget) for setting, members in learners.items()}
            out[env] = (lines, [c for c in env_cells if c.budget == 0])
    return out


def plot_sample_efficiency(data, path, styles: dict) -> pathlib.Path:
    """Normalised return against the training budget (log x), one panel per environment, one line with
    its band per learning ``agent_setting``; the agents that do not learn as dashed horizontal lines."""
    fig, axes, panels = _panels(len(data), 2, 5.2, 3.4, sharey=True)
    legend = {}
    for ax, (env, (lines, flat)) in zip(panels, data.items(), strict=True):
        for setting, points in lines.items():
            color = styles.get(setting, {}).get("color", "C0")
            legend[setting] = _band(ax, [c.budget for c in points], [c.norm for c in points],
                                    {"color": color, "linestyle": "-"}, setting)
        levels = [ax.axhline(c.norm.estimate, color=styles.get(c.setting, {}).get("color", "0.4"), linewidth=1.1,
                             linestyle="--", label=c.agent) for c in flat]
        ax.margins(x=0.1)
        _budget_axis(ax, sorted({c.budget for points in lines.values() for c in points}))
        ax.set_title(env, fontsize=10)
        ax.grid(True, alpha=0.3)
        if levels:
            ax.legend(handles=levels, fontsize=6.5, loc="best", framealpha=0.8)
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised return")
    return _save(fig, path, legend)


def plot_frontier(panels: dict[str, dict], path) -> pathlib.Path:
    """Failure rate (log y) against normalised return, one panel per environment: a line per classifier
    through its thresholds, each unfiltered generator as a star, the constrained optimum (1.0, no
    failure) as a dotted vertical line, or as a note when drawing it would squeeze the points.
    ``panels[env]`` holds ``series``: ``{label: [(quality, rate, upper, failures)]}`` and
    ``generators``: ``{label: the same tuple}`` (each named beside its star when there are several).
    A point with no failure is drawn at its 95% upper bound as a hollow downward triangle ("at
    most"); every point has a whisker up to its bound."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    labels = list(dict.fromkeys(k for p in panels.values() for k in p["series"]))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    colour = {k: cmap(i % cmap.N) for i, k in enumerate(labels)}
    fig, _, axes = _panels(len(panels), 3, 4.4, 3.3)
    legend = {}
    for ax, (env, panel) in zip(axes, panels.items(), strict=True):
        for label, points in panel["series"].items():
            pts = sorted(points)
            x = np.array([p[0] for p in pts])
            y = np.array([p[1] if p[3] > 0 else p[2] for p in pts])
            up = np.array([p[2] for p in pts])
            c = colour[label]
            ax.plot(x, y, color=c, linewidth=1.0, zorder=2)
            ax.vlines(x, y, up, color=c, linewidth=0.8, alpha=0.6, zorder=2)
            seen = np.array([p[3] > 0 for p in pts])
            ax.scatter(x[seen], y[seen], color=c, s=22, zorder=3)
            ax.scatter(x[~seen], y[~seen], facecolors="none", edgecolors=[c], marker="v", s=30, zorder=3)
            legend.setdefault(label, Line2D([], [], color=c, marker="o", markersize=4))
        generators = panel.get("generators", {})
        for name, gen in generators.items():
            y = gen[1] if gen[3] > 0 else gen[2]
            ax.scatter([gen[0]], [y], marker="*", s=110, color="k", zorder=4)
            ax.vlines([gen[0]], [y], [gen[2]], color="k", linewidth=0.8)
            if len(generators) > 1:  # which star is which
                ax.annotate(name, (gen[0], y), textcoords="offset points", xytext=(5, 4), fontsize=6)
            legend.setdefault("generator, unfiltered", Line2D([], [], color="k", marker="*", linestyle="none",
                                                              markersize=9))
        xs = [p[0] for pts in panel["series"].values() for p in pts] + [g[0] for g in generators.values()]
        lo, hi = min(xs), max(xs)
        pad = max(0.01, 0.15 * (hi - lo))
        if 1.0 <= hi + 4 * pad:  # the constrained optimum fits without squeezing the filters' points
            ax.axvline(1.0, color="0.4", linestyle=":", linewidth=1.0)
            legend.setdefault("constrained optimum (1.0, no failure)", Line2D([], [], color="0.4", linestyle=":"))
            hi = max(hi, 1.0)
        else:
            ax.text(0.98, 0.02, "constrained optimum: 1.0 →", transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=7, color="0.3")
        ax.set_xlim(lo - pad, hi + pad)
        legend.setdefault("no failure seen: drawn at its 95% bound",
                          Line2D([], [], color="0.3", marker="v", markerfacecolor="none", linestyle="none"))
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
        _label_panel(ax, env, "normalised return", "failures per decision")
    return _save(fig, path, legend, wgap=0.75)
