"""benchmarks.report: statistics on hand-computed values, reading results.jsonl, the written report."""

from __future__ import annotations

import hashlib
import json
import math
import re

import numpy as np
import pytest

from standin.benchmarks.cells import pareto_front
from standin.benchmarks.report import (
    ANYTIME_FIGURE,
    CROSSOVER_BUDGET_FIGURE,
    FIGURE_NAME,
    HTML_NAME,
    IQM_FIGURE,
    LEARNING_FIGURE,
    OPTIMAL_RATE_FIGURE,
    PARETO_FIGURE,
    SAMPLE_EFFICIENCY_FIGURE,
    SPLIT_FIGURE,
    agent_group,
    agent_kind,
    load_results,
    markdown_to_html,
    summarize,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T_975_DF2 = 4.302652729911275  # Student-t 97.5% quantile, 2 degrees of freedom (from tables)


def _kind(agent: str):
    """The agent kind a record of this test agent label carries (docs/results.md, ``agent_kind``)."""
    name = agent.split()[0]
    if name in ("random", "oracle"):
        return "reference"
    if name in ("ppo", "distill"):
        return "policy"
    return "search" if name in ("learned", "value-search", "propose-search") else None


def make_record(env_n=8, agent="random", seed=0, normalized_return=0.5, status="ok", **overrides) -> dict:
    """A valid results.jsonl record (docs/results.md) of a Landscape-v0 trial with ``n = env_n``."""
    record = {
        "trial_id": hashlib.sha256(f"{env_n} {agent} {seed}".encode()).hexdigest()[:16],
        "suite": "tiny",
        "status": status,
        "error": None,
        "traceback": None,
        "env_id": "standin/Landscape-v0",
        "env_kwargs": {"n": env_n, "alpha": 0.5},
        "env_label": f"Landscape-v0 n={env_n} alpha=0.5",
        "env_family": "Landscape-v0 alpha=0.5",
        "log2_actions": float(env_n),
        "agent": agent.split()[0],
        "agent_config": {},
        "agent_label": agent,
        "agent_group": agent,
        "agent_kind": _kind(agent),
        "seed": seed,
        "train_steps": 0,
        "eval_episodes": 2,
        "metrics": {
            "return": 1.0, "return_std": 0.1, "optimal_return": 2.0, "random_return": 0.0,
            "normalized_return": normalized_return, "optimal_rate": 0.25, "decision_ms": 1.2345,
            "evaluations_per_decision": 100.0, "decisions": 10, "train_seconds": 0.0,
            "train_env_steps": 0, "eval_seconds": 0.1,
        },
        "learning_curve": None,
        "reference": {"high": "the exact optimum", "high_is_optimum": True, "low": "a uniform random action"},
        "provenance": {
            "standin": "0.1.0", "git_commit": "abc1234", "python": "3.11.2", "packages": {},
            "machine": {"cores": 16, "cpu": "Test CPU", "platform": "Linux"},
        },
        "finished_at": "2025-01-01T00:00:00+00:00",
    }
    if status == "error":
        del record["metrics"]
        record["error"] = "RuntimeError: the search diverged"
        record["traceback"] = "Traceback (most recent call last):\n  ...\nRuntimeError: the search diverged"
    record.update(overrides)
    return record


def write_jsonl(path, records, tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")


# --- summarize ---------------------------------------------------------------------------------


def test_summarize_hand_computed():
    s = summarize([0.5, 0.7, 0.9])
    std = math.sqrt(((0.5 - 0.7) ** 2 + 0 + (0.9 - 0.7) ** 2) / 2)  # 0.2
    assert s.n == 3
    assert s.mean == pytest.approx(0.7)
    assert s.half_width == pytest.approx(T_975_DF2 * std / math.sqrt(3))
    assert s.half_width == pytest.approx(0.4968, abs=1e-4)


def test_summarize_single_seed_has_no_interval():
    s = summarize([0.25])
    assert (s.mean, s.n) == (0.25, 1)
    assert math.isnan(s.half_width)


def test_summarize_rejects_empty():
    with pytest.raises(ValueError, match="no values"):
        summarize([])


# --- load_results ------------------------------------------------------------------------------


def test_load_results_skips_blank_lines_and_a_truncated_last_line(tmp_path):
    path = tmp_path / "results.jsonl"
    records = [make_record(seed=0), make_record(seed=1)]
    partial = json.dumps(make_record(seed=2))[:40]
    lines = [json.dumps(records[0]), "", json.dumps(records[1]), partial]
    path.write_text("\n".join(lines), encoding="utf-8")
    assert load_results(path) == records


def test_load_results_raises_on_a_malformed_middle_line(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps(make_record())
    path.write_text(good + "\n" + good[:30] + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"results\.jsonl, line 2"):
        load_results(path)


def test_load_results_names_a_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "results.jsonl"
    with pytest.raises(ValueError, match="nowhere"):
        load_results(path)


# --- write_report ------------------------------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path):
    """2 agents × 2 sizes × 2 seeds, plus one failed trial, with hand-chosen normalised returns."""
    returns = {  # (agent, n) -> per-seed normalised returns
        ("random", 8): (0.10, 0.20),
        ("random", 16): (0.00, 0.10),
        ("oracle", 8): (1.00, 1.00),
        ("oracle", 16): (0.90, 0.80),
    }
    records = [
        make_record(env_n=n, agent=agent, seed=seed, normalized_return=value)
        for (agent, n), values in returns.items()
        for seed, value in enumerate(values)
    ]
    records.append(make_record(env_n=16, agent="oracle", seed=7, status="error"))
    write_jsonl(tmp_path / "results.jsonl", records)
    return tmp_path


def test_write_report_builds_markdown_and_figure(run_dir):
    report = write_report(run_dir)
    assert report == run_dir / "report.md"
    text = report.read_text(encoding="utf-8")

    for label in ("random", "oracle", "Landscape-v0 n=8 alpha=0.5", "Landscape-v0 n=16 alpha=0.5"):
        assert label in text
    assert "tiny" in text and "8 trials ok, 1 failed" in text
    assert "0.1.0" in text and "abc1234" in text and "16 cores, Test CPU" in text

    # random at n=8: seeds 0.10, 0.20 → mean 0.150, half-width t(0.975, 1) * std / sqrt(2)
    t_975_df1 = 12.706204736174705
    half = t_975_df1 * math.sqrt(((0.10 - 0.15) ** 2 + (0.20 - 0.15) ** 2) / 1) / math.sqrt(2)
    assert f"0.150 ± {half:.3f}" in text
    assert "0.850 ± " in text  # oracle at n=16
    assert "1.23" in text and "| 100 |" in text  # decision ms to 3 significant digits; evaluations

    assert "## Failed trials" in text
    failed_row = next(line for line in text.splitlines() if "RuntimeError: the search diverged" in line)
    assert "oracle" in failed_row and "| 7 |" in failed_row
    assert "Traceback" not in text

    figure = run_dir / "normalized_return_vs_log2A.png"
    assert f"]({figure.name})" in text
    data = figure.read_bytes()
    assert len(data) > 0 and data.startswith(PNG_MAGIC)

    stands = text.split("## Where each agent stands", 1)[1]
    assert "**Landscape-v0 alpha=0.5**" in stands
    rows = {line.split("|")[1].strip(): line for line in stands.splitlines() if line.startswith("| ")}
    assert rows["random"].replace(" ", "") == "|random|0.150|0.050|"
    assert rows["oracle"].replace(" ", "") == "|oracle|1.000|0.850|"

    assert "above 1.0" not in text  # every reference here is the exact optimum


def test_write_report_single_seed_and_reference_note(tmp_path):
    ref = {"high": "a greedy baseline", "high_is_optimum": False, "low": "a uniform random action"}
    records = [make_record(seed=0, normalized_return=1.25, reference=ref)]
    records[0]["metrics"]["optimal_rate"] = None
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "1.250 ± n/a" in text
    assert "| — |" in text
    assert "above 1.0" in text and "a greedy baseline" in text
    assert "## Failed trials" not in text
    assert "| random | 1.250 |" in text  # the one size run


def test_write_report_is_deterministic(run_dir):
    def outputs():
        write_report(run_dir)
        return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.suffix in (".md", ".html", ".png")}

    first = outputs()
    assert {"report.md", HTML_NAME, FIGURE_NAME, IQM_FIGURE, PARETO_FIGURE} <= set(first)
    assert outputs() == first


def test_write_report_names_a_missing_metric(tmp_path):
    record = make_record()
    del record["metrics"]["decision_ms"]
    write_jsonl(tmp_path / "results.jsonl", [record])
    with pytest.raises(ValueError, match="decision_ms"):
        write_report(tmp_path)


def test_env_without_references_gets_raw_returns_and_no_figure(tmp_path):
    record = make_record(normalized_return=None)
    record["metrics"]["return"] = 0.625
    write_jsonl(tmp_path / "results.jsonl", [record])
    text = write_report(tmp_path).read_text()
    assert "0.6250" in text  # the raw return column
    assert "No reference values" in text and "Landscape-v0 n=8 alpha=0.5" in text
    assert not (tmp_path / "normalized_return_vs_log2A.png").exists()


def test_report_has_the_shortfall_split_and_the_distilled_students(tmp_path):
    """Hand-chosen split and teacher metrics come out as means ± CI in their own sections, which
    appear only when some trial logged them."""
    records = []
    for seed, (search_error, value_error) in enumerate([(0.01, 0.30), (0.03, 0.10)]):
        rec = make_record(agent="learned + anneal", seed=seed)
        rec["metrics"].update(search_error=search_error, value_error=value_error, split_by="exhaustive",
                              split_decisions=50)
        records.append(rec)
    for seed, (student, teacher, held_out) in enumerate([(0.6, 0.9, 0.5), (0.8, 0.9, 0.7)]):
        rec = make_record(agent="distill", seed=seed, normalized_return=student)
        rec["metrics"].update(teacher_normalized_return=teacher, teacher_return=1.8, teacher_decision_ms=0.5,
                              teacher_evaluations_per_decision=1000.0, agreement_held_out=held_out,
                              agreement_train=0.75)
        records.append(rec)
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")

    split = text.split("## Why learned value + search falls short", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in split.splitlines() if line.startswith("| Landscape"))
    t1 = 12.706204736174705  # Student-t 97.5% quantile, 1 degree of freedom
    assert "learned + anneal" in row and "distill" not in split
    assert f"0.0200 ± {t1 * math.sqrt(2 * 0.01**2) / math.sqrt(2):.4f}" in row
    assert f"0.2000 ± {t1 * math.sqrt(2 * 0.1**2) / math.sqrt(2):.4f}" in row
    assert "exhaustive" in row and row.rstrip(" |").endswith("100")
    assert "overestimation" not in split  # no trial measured the value's fit

    students = text.split("## Distilled students against their teachers", 1)[1]
    row = next(line for line in students.splitlines() if line.startswith("| Landscape"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "distill" and cells[2].startswith("0.700 ± ") and cells[3] == "0.900 ± 0.000"
    assert cells[4] == "1.23" and cells[5] == "0.500" and cells[6] == "1,000"
    assert cells[7] == "0.75 ± 0.00" and cells[8].startswith("0.60 ± ")


def test_report_leaves_out_sections_nothing_logged(run_dir):
    text = write_report(run_dir).read_text(encoding="utf-8")
    assert "## Why learned value + search falls short" not in text
    assert "## Distilled students" not in text


# --- helpers for the sections below --------------------------------------------------------------


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a report."""
    assert f"## {title}" in text, title
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in ``text``, as stripped cells (header and rule left out)."""
    rows, in_body = [], False
    for line in text.splitlines():
        if line.startswith("|---"):
            in_body = True
        elif in_body and line.startswith("| "):
            rows.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])])
        else:
            in_body = False
    return rows


def is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


def sweep(values: dict, extra: dict | None = None) -> list[dict]:
    """Records for ``{(agent, n): per-seed normalised returns}``; ``extra[(agent, n)]`` updates metrics."""
    extra = extra or {}
    records = []
    for (agent, n), seeds in values.items():
        for seed, value in enumerate(seeds):
            record = make_record(env_n=n, agent=agent, seed=seed, normalized_return=value)
            record["metrics"].update(extra.get((agent, n), {}))
            records.append(record)
    return records


# --- the crossover table -----------------------------------------------------------------------

SEARCH, WIDE, PPO, DISTILL = "value-search budget=100", "value-search budget=10000", "ppo", "distill"


@pytest.fixture(scope="module")
def crossover_report(tmp_path_factory):
    """One search setting drops below the best policy at log2 |A| = 64 with separate intervals (its best seed
    under the policy's worst), another has a lower mean than ppo at every size but overlapping intervals:
    ``(run dir, report text)``."""
    tmp_path = tmp_path_factory.mktemp("crossover")
    values = {
        (SEARCH, 16): (0.90, 0.92, 0.94), (SEARCH, 32): (0.85, 0.87, 0.89),
        (SEARCH, 64): (0.50, 0.52, 0.54), (SEARCH, 128): (0.30, 0.32, 0.34),
        (WIDE, 16): (0.70, 0.80, 0.90), (WIDE, 32): (0.70, 0.80, 0.90),  # mean under ppo's, intervals overlap
        (WIDE, 64): (0.70, 0.80, 0.90), (WIDE, 128): (0.70, 0.80, 0.90),
        (PPO, 16): (0.80, 0.82, 0.84), (PPO, 32): (0.80, 0.82, 0.84),
        (PPO, 64): (0.80, 0.82, 0.84), (PPO, 128): (0.80, 0.82, 0.84),
        (DISTILL, 64): (0.60, 0.62, 0.64),  # worse than ppo here: not the policy compared against
        ("random", 64): (0.0, 0.01, 0.02),
    }
    extra = {(SEARCH, 64): {"decision_ms": 2.5, "evaluations_per_decision": 100.0}}
    write_jsonl(tmp_path / "results.jsonl", sweep(values, extra))
    return tmp_path, write_report(tmp_path).read_text(encoding="utf-8")


def test_crossover_table_picks_the_first_size_with_separated_intervals(crossover_report):
    _, text = crossover_report
    assert text.index("## Where search falls below the policies") < text.index("## Results")
    rows = {row[1]: row for row in table_rows(section(text, "Where search falls below the policies"))}
    assert set(rows) == {SEARCH, WIDE}
    family, _, size, search, ms, evals, below, policy = rows[SEARCH]
    assert (family, size, ms, evals, below) == ("Landscape-v0 alpha=0.5", "64", "2.50", "100", "ppo")
    # bootstrap intervals of 3 seeds: the range of the seeds
    assert search == "0.520 [0.500, 0.540]" and policy == "0.820 [0.800, 0.840]"
    # overlapping intervals at every size: never below
    assert rows[WIDE][2] == "None in range (log2 |A| 16–128, 4 sizes)"
    assert rows[WIDE][3:] == ["—"] * 5


def test_crossover_needs_an_interval_on_both_sides(tmp_path):
    values = {(SEARCH, 16): (0.1,), (PPO, 16): (0.9,)}  # one seed each: far apart, but no interval
    write_jsonl(tmp_path / "results.jsonl", sweep(values))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    body = section(text, "Where search falls below the policies")
    (row,) = table_rows(body)
    assert row[2] == "None in range (log2 |A| 16 only; 1 without an interval (one seed))"
    assert row[3:] == ["—"] * 5  # nothing shown for a size that did not count
    assert "only 1 seed" in body


@pytest.mark.parametrize(("agents", "why"), [
    (("random", PPO), "no search agent"),
    (("random", SEARCH), "no policy"),
    (("random", "oracle"), "neither search agents"),
])
def test_crossover_table_says_why_it_is_empty(tmp_path, agents, why):
    write_jsonl(tmp_path / "results.jsonl", sweep({(a, 8): (0.2, 0.3) for a in agents}))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    body = section(text, "Where search falls below the policies")
    assert "Nothing to compare:" in body and why in body
    assert not table_rows(body)


def test_crossover_without_reference_values(tmp_path):
    write_jsonl(tmp_path / "results.jsonl", sweep({(SEARCH, 8): (None, None), (PPO, 8): (None, None)}))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "no environment has a normalised return" in section(text, "Where search falls below the policies")
    assert not (tmp_path / FIGURE_NAME).exists() and not (tmp_path / PARETO_FIGURE).exists()


# --- figures ------------------------------------------------------------------------------------


def test_every_figure_is_a_png_listed_with_a_caption(crossover_report):
    crossover_dir, text = crossover_report
    for name in (FIGURE_NAME, OPTIMAL_RATE_FIGURE, IQM_FIGURE, PARETO_FIGURE):
        assert is_png(crossover_dir / name), name
        assert f"]({name})" in text
        embedded = next(i for i, line in enumerate(text.splitlines()) if line.startswith("![") and name in line)
        assert text.splitlines()[embedded + 2].strip(), f"{name} has no caption"
    # nothing logged for these
    for name in (ANYTIME_FIGURE, SPLIT_FIGURE, LEARNING_FIGURE):
        assert not (crossover_dir / name).exists() and name not in text


def test_optimal_rate_figure_only_where_it_is_defined(tmp_path):
    records = sweep({(SEARCH, 8): (0.4, 0.5), (PPO, 8): (0.6, 0.7)})
    for r in records:
        r["metrics"]["optimal_rate"] = None
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert is_png(tmp_path / FIGURE_NAME)  # a single size: one point per agent
    assert not (tmp_path / OPTIMAL_RATE_FIGURE).exists() and OPTIMAL_RATE_FIGURE not in text


def budget_sweep(n=16) -> list[dict]:
    """value-search at 3 budgets sharing an agent_group, beside a policy and the two references."""
    records = []
    for budget, value in ((100, 0.3), (1000, 0.6), (10000, 0.9)):
        for seed in range(2):
            r = make_record(env_n=n, agent=f"value-search budget={budget}", seed=seed,
                            normalized_return=value + 0.01 * seed, agent_group="value-search budget=*")
            r["metrics"]["evaluations_per_decision"] = float(budget)
            records.append(r)
    for agent, value, ms in ((PPO, 0.7, 0.05), ("random", 0.0, 0.001), ("oracle", 1.0, 3.0)):
        for seed in range(2):
            r = make_record(env_n=n, agent=agent, seed=seed, normalized_return=value)
            r["metrics"].update(decision_ms=ms, evaluations_per_decision=0.0)
            records.append(r)
    return records


@pytest.fixture(scope="module")
def budget_report(tmp_path_factory):
    """``(run dir, report text)`` of ``budget_sweep()``."""
    tmp_path = tmp_path_factory.mktemp("budget")
    write_jsonl(tmp_path / "results.jsonl", budget_sweep())
    return tmp_path, write_report(tmp_path).read_text(encoding="utf-8")


def test_anytime_figure_for_a_budget_sweep(budget_report):
    tmp_path, text = budget_report
    assert is_png(tmp_path / ANYTIME_FIGURE)
    body = section(text, "Anytime: return against search budget")
    assert f"]({ANYTIME_FIGURE})" in body and "evaluations per decision" in body


def test_no_anytime_figure_without_a_multi_budget_group(tmp_path):
    records = budget_sweep()
    for r in records:
        r.pop("agent_group")  # an old record: each setting is its own group
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert not (tmp_path / ANYTIME_FIGURE).exists() and "## Anytime" not in text


def test_a_figure_from_an_earlier_report_is_removed(tmp_path):
    write_jsonl(tmp_path / "results.jsonl", budget_sweep())
    write_report(tmp_path)
    assert (tmp_path / ANYTIME_FIGURE).exists()
    write_jsonl(tmp_path / "results.jsonl", [r for r in budget_sweep() if "budget=100" not in r["agent_label"]
                                             and "budget=1000 " not in r["agent_label"] + " "])
    write_report(tmp_path)
    assert not (tmp_path / ANYTIME_FIGURE).exists()


def test_pareto_front_hand_computed():
    # (cost, quality): (2, 0.4) is beaten by (1, 0.5); (3, 0.7) by (2, 0.7). Cheapest first.
    points = [(1, 0.5), (2, 0.4), (2, 0.7), (3, 0.7), (0.5, 0.1)]
    assert pareto_front(points) == [4, 0, 2]


def test_pareto_table_leaves_references_off_the_front(budget_report):
    tmp_path, text = budget_report
    (row,) = table_rows(section(text, "Compute against quality"))
    # ppo (0.05 ms, 0.70) beats budget=100 (1.23 ms, 0.305); budget 1000 and 10000 cost as much as budget=100
    # (every search record has decision_ms 1.2345) and return more, so budget=10000 beats both
    assert row[1] == "ppo (0.0500 ms, 0.70) → value-search budget=10000 (1.23 ms, 0.91)"
    assert "oracle" not in row[1] and "random" not in row[1]
    assert is_png(tmp_path / PARETO_FIGURE)


def test_split_figure_where_the_split_was_logged(tmp_path):
    records = sweep({("learned + anneal", 8): (0.5, 0.6), ("learned + anneal", 16): (0.4, 0.5)})
    for i, r in enumerate(records):
        r["metrics"].update(search_error=0.01 * i, value_error=0.1 + 0.01 * i, split_by="exhaustive",
                            split_decisions=50)
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert is_png(tmp_path / SPLIT_FIGURE)
    assert f"]({SPLIT_FIGURE})" in section(text, "Why learned value + search falls short")


def curve(steps, values) -> dict:
    return {"tag": "train/episodic_return", "steps": list(steps), "values": list(values)}


def test_mean_curve_on_the_common_steps():
    from standin.benchmarks.figures import mean_curve

    # seed 1 logged at 0, 10, 20; seed 2 at 0, 20 (linear in between): the grid is 0, 10, 20 and the
    # means are (0 + 0) / 2, (1 + 2) / 2, (2 + 4) / 2
    runs = [(np.array([0.0, 10, 20]), np.array([0.0, 1, 2])), (np.array([0.0, 20]), np.array([0.0, 4]))]
    grid, mean, low, high = mean_curve(runs)
    np.testing.assert_allclose(grid, [0, 10, 20])
    np.testing.assert_allclose(mean, [0, 1.5, 3])
    np.testing.assert_allclose(low, [0, 1, 2])
    np.testing.assert_allclose(high, [0, 2, 4])
    # spans that only partly overlap: the grid stays within both
    runs = [(np.array([0.0, 10, 20]), np.array([0.0, 1, 2])), (np.array([10.0, 30]), np.array([5.0, 7]))]
    grid, mean, _, _ = mean_curve(runs)
    np.testing.assert_allclose(grid, [10, 20])
    np.testing.assert_allclose(mean, [(1 + 5) / 2, (2 + 6) / 2])


def test_learning_curves_skip_what_cannot_be_drawn(tmp_path):
    records = sweep({(PPO, 8): (0.5, 0.6, 0.7, 0.8)})
    records[0]["learning_curve"] = curve([0, 10], [None, None])  # nulls only
    records[1]["learning_curve"] = curve([0, 10, 20], [1.0, 2.0])  # lengths differ
    records[2]["learning_curve"] = curve([], [])
    records[3]["learning_curve"] = [1, 2, 3]  # not an object
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "## Learning curves" not in text and not (tmp_path / LEARNING_FIGURE).exists()


def test_learning_curves_normalised_when_the_references_are_there(tmp_path):
    records = sweep({(PPO, 8): (0.5, 0.6), (PPO, 16): (0.4, 0.5)})
    for r in records:
        r["learning_curve"] = curve([0, 500, 1000], [0.0, 1.0, 1.5])
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert is_png(tmp_path / LEARNING_FIGURE)
    body = section(text, "Learning curves")
    assert f"]({LEARNING_FIGURE})" in body and "normalised with each trial's evaluation references" in body

    for r in records:
        r["metrics"]["random_return"] = None
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "are raw" in section(text, "Learning curves")


# --- training budgets ---------------------------------------------------------------------------

MLP, ORACLE = "value-search value=mlp", "value-search value=oracle"


def trained(agent: str, steps: int, n: int, seed: int, value: float) -> dict:
    """A record of ``agent`` (its ``agent_setting``) trained for ``steps`` env steps in a suite that swept the
    budget: its label and group get `` steps=20k``; it spent ``steps + 48 * seed`` env steps,
    ``steps // 10 + seed`` gradient steps and ``1.5 + seed`` seconds."""
    label = f"{agent} steps={steps // 1000}k"
    record = make_record(env_n=n, agent=label, seed=seed, normalized_return=value, agent_group=label,
                         agent_setting=agent, train_steps=steps)
    record["metrics"].update(train_budget=steps, train_env_steps=steps + 48 * seed,
                             train_gradient_steps=steps // 10 + seed, train_search_evaluations=0,
                             train_label_evaluations=0, train_seconds=1.5 + seed)
    return record


def two_budgets() -> list[dict]:
    """ppo and a learned value + search at 20k and 200k env steps, an oracle value + search and random (which
    do not learn), sizes log2 |A| = 8, 16, 32, three seeds. ppo scores 0.80/0.82/0.84 at 20k and
    0.90/0.92/0.94 at 200k everywhere. The learned search (0.95.. at 8, 0.50.. above) falls below ppo at 16
    with 20k steps; with 200k (0.96.. up to 16, 0.50.. at 32) at 32. The oracle search (0.85/0.86/0.87
    everywhere) is above ppo at 20k and below it at 200k, from the smallest size on."""
    records = []
    for n in (8, 16, 32):
        for seed in range(3):
            records += [trained(PPO, 20000, n, seed, 0.80 + 0.02 * seed),
                        trained(PPO, 200000, n, seed, 0.90 + 0.02 * seed),
                        trained(MLP, 20000, n, seed, (0.95 if n == 8 else 0.50) + 0.01 * seed),
                        trained(MLP, 200000, n, seed, (0.96 if n < 32 else 0.50) + 0.01 * seed),
                        make_record(env_n=n, agent=ORACLE, seed=seed, normalized_return=0.85 + 0.01 * seed),
                        make_record(env_n=n, agent="random", seed=seed, normalized_return=0.01 * seed)]
    return records


@pytest.fixture(scope="module")
def two_budget_report(tmp_path_factory):
    """``(run dir, report text)`` of ``two_budgets()``."""
    tmp_path = tmp_path_factory.mktemp("two-budgets")
    write_jsonl(tmp_path / "results.jsonl", two_budgets())
    return tmp_path, write_report(tmp_path).read_text(encoding="utf-8")


def test_crossover_at_equal_training_budgets(two_budget_report):
    _, text = two_budget_report
    body = section(text, "Where search falls below the policies")
    assert "| family | search setting | training budget (env steps) | crossover at log2 \\|A\\| |" in body
    rows = table_rows(body)
    # family, then search setting (one line across budgets), then budget
    assert [(r[1], r[2]) for r in rows] == [(MLP, "20,000"), (MLP, "200,000"), (ORACLE, "20,000"),
                                            (ORACLE, "200,000")]
    by = {(r[1], r[2]): r for r in rows}
    assert by[(MLP, "20,000")][3:5] == ["16", "0.510 [0.500, 0.520]"]
    assert by[(MLP, "20,000")][7:] == ["ppo steps=20k", "0.820 [0.800, 0.840]"]
    assert by[(MLP, "200,000")][3] == "32" and by[(MLP, "200,000")][7] == "ppo steps=200k"
    # the oracle search does not learn: compared against the policies of every budget
    assert by[(ORACLE, "20,000")][3] == "None in range (log2 |A| 8–32, 3 sizes)"
    assert by[(ORACLE, "200,000")][3:5] == ["8", "0.860 [0.850, 0.870]"]
    assert by[(ORACLE, "200,000")][7:] == ["ppo steps=200k", "0.920 [0.900, 0.940]"]


def test_crossover_moves_with_the_training_budget(two_budget_report):
    run_dir, text = two_budget_report
    body = section(text, "How the crossover moves with the training budget")
    assert "**Landscape-v0 alpha=0.5**" in body and "| search setting | 20,000 steps | 200,000 steps |" in body
    assert table_rows(body) == [[MLP, "16", "32"], [ORACLE, "none", "8"]]
    assert f"]({CROSSOVER_BUDGET_FIGURE})" in body and is_png(run_dir / CROSSOVER_BUDGET_FIGURE)
    assert text.index("## How the crossover moves") < text.index("## Results")


def test_sample_efficiency_table_and_figure(two_budget_report):
    run_dir, text = two_budget_report
    body = section(text, "Sample efficiency: return against the training budget")
    assert f"]({SAMPLE_EFFICIENCY_FIGURE})" in body and is_png(run_dir / SAMPLE_EFFICIENCY_FIGURE)
    assert "dashed horizontal lines" in body
    rows = {(r[0], r[1]): r[2:] for r in table_rows(body)}
    envs = [f"Landscape-v0 n={n} alpha=0.5" for n in (8, 16, 32)]
    assert set(rows) == {(env, agent) for env in envs for agent in (PPO, MLP)}  # the learners only
    # three seeds 0.01 or 0.02 apart: mean ± t(0.975, 2) * std / sqrt(3)
    half_02, half_01 = (f"{T_975_DF2 * d / math.sqrt(3):.3f}" for d in (0.02, 0.01))
    assert rows[(envs[0], PPO)] == [f"0.820 ± {half_02}", f"0.920 ± {half_02}"]
    assert rows[(envs[1], MLP)] == [f"0.510 ± {half_01}", f"0.970 ± {half_01}"]
    assert rows[(envs[2], MLP)] == [f"0.510 ± {half_01}", f"0.510 ± {half_01}"]


def test_what_training_spent(two_budget_report):
    _, text = two_budget_report
    body = section(text, "What training spent")
    rows = {(r[0], r[1]): r[2:] for r in table_rows(body)}
    assert not any(agent in (ORACLE, "random") for _, agent in rows)  # they do not learn
    # seeds 0, 1, 2 spent steps + 0, 48, 96 env steps, steps // 10 + 0, 1, 2 gradient steps, 1.5, 2.5, 3.5 s
    assert rows[("Landscape-v0 n=8 alpha=0.5", "ppo steps=20k")] == ["20,000", "20,048", "2,001", "0", "2.50"]
    assert rows[("Landscape-v0 n=32 alpha=0.5", f"{MLP} steps=200k")] == ["200,000", "200,048", "20,001", "0",
                                                                          "2.50"]


def test_budget_figures_are_reproducible(tmp_path, two_budget_report):
    run_dir, text = two_budget_report
    write_jsonl(tmp_path / "results.jsonl", two_budgets())
    assert write_report(tmp_path).read_text(encoding="utf-8") == text
    for name in (CROSSOVER_BUDGET_FIGURE, SAMPLE_EFFICIENCY_FIGURE):
        assert (tmp_path / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_a_single_training_budget_keeps_the_crossover_layout(tmp_path):
    """Every learner at 20k steps: no budget column and no budget sections; the oracle search (0 steps) is
    compared with the policy as before."""
    records = [r for r in two_budgets() if " steps=200k" not in r["agent_label"]]
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    body = section(text, "Where search falls below the policies")
    assert "training budget" not in body and "swept the training budget" not in body
    rows = {r[1]: r for r in table_rows(body)}
    assert set(rows) == {MLP, ORACLE} and len(rows[MLP]) == 8
    assert rows[MLP][2] == "16" and rows[ORACLE][2] == "None in range (log2 |A| 8–32, 3 sizes)"
    assert "## How the crossover moves" not in text and "## Sample efficiency" not in text
    assert "## What training spent" in text
    for name in (CROSSOVER_BUDGET_FIGURE, SAMPLE_EFFICIENCY_FIGURE):
        assert not (tmp_path / name).exists() and name not in text


def test_old_records_without_the_budget_fields(tmp_path):
    """Records written before agent_setting and the training costs: the budget is the record's train_steps and
    each label is its own setting."""
    records = two_budgets()
    for r in records:
        r.pop("agent_setting", None)
        for key in ("train_budget", "train_gradient_steps", "train_search_evaluations", "train_label_evaluations"):
            r["metrics"].pop(key, None)
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    rows = {(r[1], r[2]): r for r in table_rows(section(text, "Where search falls below the policies"))}
    assert rows[(f"{MLP} steps=20k", "20,000")][3] == "16" and rows[(ORACLE, "200,000")][3] == "8"
    moves = table_rows(section(text, "How the crossover moves with the training budget"))
    assert [f"{MLP} steps=20k", "16", "—"] in moves and [ORACLE, "none", "8"] in moves
    spent = {(r[0], r[1]): r[2:] for r in table_rows(section(text, "What training spent"))}
    assert spent[("Landscape-v0 n=8 alpha=0.5", "ppo steps=20k")] == ["20,000", "20,048", "—", "—", "2.50"]
    assert is_png(tmp_path / SAMPLE_EFFICIENCY_FIGURE)


def test_split_shows_the_value_fit(tmp_path):
    records = sweep({("learned + anneal", 8): (0.5, 0.6)})
    for r, (uniform, at_search, over) in zip(records, [(0.1, 0.3, 0.3), (0.3, 0.5, -0.1)], strict=True):
        r["metrics"].update(search_error=0.0, value_error=0.1, split_by="exhaustive", split_decisions=50,
                            fit_error_uniform=uniform, fit_error_search=at_search, overestimation=over)
    write_jsonl(tmp_path / "results.jsonl", records)
    body = section(write_report(tmp_path).read_text(encoding="utf-8"), "Why learned value + search falls short")
    assert "| fit error, uniform | fit error, at search | overestimation |" in body and "optimiser's curse" in body
    (row,) = table_rows(body)
    t1 = 12.706204736174705  # Student-t 97.5% quantile, 1 degree of freedom
    half = f"{t1 * math.sqrt(2 * 0.1**2) / math.sqrt(2):.4f}"  # two seeds 0.2 apart
    assert row[5:8] == [f"0.2000 ± {half}", f"0.4000 ± {half}", f"0.1000 ± {2 * float(half):.4f}"]


# --- aggregate: IQM and probability of improvement ----------------------------------------------


def test_aggregate_iqm_and_probability_of_improvement(tmp_path):
    # search, 8 pooled scores 0.1 .. 0.8: drop 2 at each end -> mean(0.3, 0.4, 0.5, 0.6) = 0.45
    # ppo, pooled 0 0 0 0 1 1 1 1 -> mean(0, 0, 1, 1) = 0.5
    # P(search > ppo): n=8: every search seed beats 0 -> 1; n=16: every one is below 1 -> 0; mean 0.5
    values = {(SEARCH, 8): (0.1, 0.2, 0.3, 0.4), (SEARCH, 16): (0.5, 0.6, 0.7, 0.8),
              (PPO, 8): (0.0, 0.0, 0.0, 0.0), (PPO, 16): (1.0, 1.0, 1.0, 1.0)}
    write_jsonl(tmp_path / "results.jsonl", sweep(values))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    body = section(text, "Aggregate over tasks: IQM and probability of improvement")
    rows = table_rows(body)
    iqm_rows = {r[0]: r for r in rows if len(r) == 5}
    assert iqm_rows[SEARCH][1:4] == ["search", "2", "8"] and iqm_rows[SEARCH][4].startswith("0.450 [")
    assert iqm_rows[PPO][1:4] == ["policy", "2", "8"] and iqm_rows[PPO][4] == "0.500 [0.500, 0.500]"
    (poi,) = [r for r in rows if len(r) == 4]
    assert poi == [SEARCH, PPO, "2", "0.50 [0.50, 0.50]"]
    assert is_png(tmp_path / IQM_FIGURE)


def test_probability_of_improvement_uses_shared_tasks_only(tmp_path):
    values = {(SEARCH, 8): (0.9, 0.8), (SEARCH, 16): (0.1, 0.2), (PPO, 8): (0.5, 0.6)}
    write_jsonl(tmp_path / "results.jsonl", sweep(values))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    body = section(text, "Aggregate over tasks: IQM and probability of improvement")
    (poi,) = [r for r in table_rows(body) if len(r) == 4]
    assert poi == [SEARCH, PPO, "1", "1.00 [1.00, 1.00]"]  # n=16, where ppo did not run, is left out
    assert "Not every agent ran on every task" in body


# --- robustness ---------------------------------------------------------------------------------


def test_failed_trials_only(tmp_path):
    write_jsonl(tmp_path / "results.jsonl", [make_record(status="error", seed=s) for s in range(2)])
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "0 trials ok, 2 failed" in text and "No trial finished ok" in text and "## Failed trials" in text
    assert not list(tmp_path.glob("*.png"))
    assert (tmp_path / HTML_NAME).exists()


def test_old_records_without_the_new_fields(tmp_path):
    """Records written before agent_group, agent_kind and learning_curve: the kind comes from the agent class."""
    records = sweep({("random", 8): (0.0, 0.1), ("oracle", 8): (1.0, 1.0), ("mystery", 8): (0.5, 0.6)})
    for r in records:
        for key in ("agent_group", "agent_kind", "learning_curve"):
            del r[key]
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    rows = {r[0]: r for r in table_rows(section(text, "Aggregate over tasks: IQM and probability of improvement"))
            if len(r) == 5}
    assert rows["random"][1] == "reference" and rows["oracle"][1] == "reference" and rows["mystery"][1] == "—"
    assert "## Learning curves" not in text and "## Anytime" not in text


def test_agent_kind_and_group_fall_back():
    assert agent_kind({"agent": "random"}) == "reference"  # old record: from the class
    assert agent_kind({"agent": "no-such-agent"}) is None
    assert agent_kind({"agent": "random", "agent_kind": None}) is None  # the record's own word counts
    assert agent_kind({"agent": "random", "agent_kind": "search"}) == "search"
    assert agent_group({"agent_label": "a b=1"}) == "a b=1"
    assert agent_group({"agent_label": "a b=1", "agent_group": "a"}) == "a"


def test_mixed_families_sizes_and_references(tmp_path):
    """A single-size family, one without reference values, and a swept one, in one report."""
    records = sweep({(SEARCH, 8): (0.5, 0.6), (SEARCH, 16): (0.3, 0.4), (PPO, 8): (0.7, 0.8), (PPO, 16): (0.7, 0.8)})
    for agent in (SEARCH, PPO):
        for seed in range(2):
            records.append(make_record(agent=agent, seed=seed, normalized_return=None, env_label="Swarm-v0 G=6",
                                       env_family="Swarm-v0 G=6", log2_actions=6.97, trial_id=f"swarm{agent}{seed}"))
            records.append(make_record(agent=agent, seed=seed, normalized_return=0.4 + 0.1 * seed,
                                       env_label="Slate-v0", env_family="Slate-v0", log2_actions=10.15,
                                       trial_id=f"slate{agent}{seed}"))
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No reference values" in text and "Swarm-v0 G=6" in text
    rows = {(r[0], r[1]): r for r in table_rows(section(text, "Where search falls below the policies"))}
    assert rows[("Slate-v0", SEARCH)][2] == "None in range (log2 |A| 10.2 only)"
    assert rows[("Landscape-v0 alpha=0.5", SEARCH)][2] == "8"
    assert not any(family == "Swarm-v0 G=6" for family, _ in rows)
    assert is_png(tmp_path / FIGURE_NAME) and is_png(tmp_path / PARETO_FIGURE)


# --- HTML ---------------------------------------------------------------------------------------


def test_html_report_embeds_the_figures(run_dir):
    write_report(run_dir)
    page = (run_dir / HTML_NAME).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Report: tiny</title>" in page
    assert page.count("<table>") >= 2 and "data:image/png;base64," in page
    assert "![" not in page and "<h2>Results</h2>" in page


def test_markdown_to_html_subset(tmp_path):
    (tmp_path / "f.png").write_bytes(PNG_MAGIC + b"rest")
    md = "# T\n\nA **b** `c` & d\n*e* f\n\n- one\n- two\n\n| x | y \\| z |\n|---|---:|\n| 1 | 2 |\n\n![alt](f.png)\n"
    page = markdown_to_html(md, tmp_path, title="T")
    assert "<h1>T</h1>" in page
    assert "<p>A <strong>b</strong> <code>c</code> &amp; d <em>e</em> f</p>" in page
    assert "<ul><li>one</li><li>two</li></ul>" in page
    assert "<th>y | z</th>" in page and "<td>1</td><td class=num>2</td>" in page
    assert '<img src="data:image/png;base64,iVBORw0KGgpyZXN0" alt="alt">' in page


def test_probability_of_improvement_pairs_only_equal_budgets(two_budget_report):
    """A search trained for 20k steps is never set against a policy trained for 200k; one that does
    not learn (the oracle value) meets the policy of every budget."""
    _, text = two_budget_report
    body = section(text, "Aggregate over tasks")
    pairs = {(r[0], r[1]) for r in table_rows(body) if len(r) == 4}
    assert pairs == {("value-search value=mlp steps=20k", "ppo steps=20k"),
                     ("value-search value=mlp steps=200k", "ppo steps=200k"),
                     ("value-search value=oracle", "ppo steps=20k"),
                     ("value-search value=oracle", "ppo steps=200k")}
    assert "at equal training budgets" in body


def test_failure_rates_are_pooled_over_seeds_with_exact_bounds_and_never_zero(tmp_path):
    """Two agents on an env that reports catastrophes: one with failures, one with none; a third
    agent on an env that doesn't report them has no row."""
    from standin.benchmarks.stats import failure_rate

    def record(agent, seed, **metrics):
        r = make_record(agent=agent, seed=seed, trial_id=f"{agent}{seed}")
        r["metrics"].update(metrics)
        return r

    records = []
    for seed, (k_bad, k_safe) in enumerate(((3, 0), (5, 0))):
        records += [record("no filter", seed, failures=k_bad, decisions=1000),
                    record("learned filter", seed, failures=k_safe, decisions=1000, fallback_rate=0.01,
                           train_overseer_queries=512, adversary_failures=2 + seed, adversary_queries=100),
                    record("ppo", seed)]
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    rows = {r[1]: r for r in table_rows(section(text, "Failure rates"))}
    assert set(rows) == {"no filter", "learned filter"}
    upper = failure_rate(8, 2000).upper
    assert rows["no filter"][3] == f"8 / 2,000 = 0.004 (≤ {upper:.2g})"
    assert rows["learned filter"][3] == f"0 / 2,000 (≤ {failure_rate(0, 2000).upper:.2g})"
    assert rows["learned filter"][5] == "512" and rows["no filter"][5] == "—"
    assert rows["learned filter"][6].startswith("5 / 200 = 0.025")




def test_the_frontier_joins_a_classifiers_thresholds_and_marks_the_unfiltered_generator(tmp_path):
    """Each learned filter's thresholds form one line of the frontier; the overseer at threshold 1 is
    the generator; the cost table names the filter with the fewest failures and its candidates."""
    from standin.benchmarks.report import frontier_data, group_trials
    from standin.benchmarks.stats import failure_rate

    def record(label, config, seed, failures, norm, accepted):
        r = make_record(agent=f"filtered {label}", seed=seed, normalized_return=norm, agent_config=config,
                        trial_id=f"{label}{seed}")
        r["agent"] = "filtered"
        r["metrics"].update(failures=failures, decisions=1000, acceptance_rate=accepted)
        return r

    records = []
    for seed in (0, 1):
        records += [record("none", {"classifier": "overseer", "threshold": 1.0}, seed, 40, 0.50, 1.0),
                    record("lb=8 threshold=0.5", {"label_budget": 8, "threshold": 0.5}, seed, 20, 0.49, 0.9),
                    record("lb=8 threshold=0.1", {"label_budget": 8, "threshold": 0.1}, seed, 0, 0.47, 0.5),
                    record("lb=2 threshold=0.1", {"label_budget": 2, "threshold": 0.1}, seed, 30, 0.48, 0.8)]
    panels = frontier_data(group_trials(records))
    (panel,) = panels.values()
    assert panel["generators"] == {"filtered none": (0.5, 0.04, failure_rate(80, 2000).upper, 80)}
    assert set(panel["series"]) == {"filtered lb=8", "filtered lb=2"}
    points = sorted(panel["series"]["filtered lb=8"])
    assert [p[3] for p in points] == [0, 40] and points[0][2] == failure_rate(0, 2000).upper  # the bound, not 0
    write_jsonl(tmp_path / "results.jsonl", records)
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "](frontier.png)" in text and (tmp_path / "frontier.png").stat().st_size > 0
    (row,) = table_rows(section(text, "What filtering costs"))
    assert row[2] == "uniform" and row[4].startswith("80 / 2,000") and row[6] == "filtered lb=8 threshold=0.1"
    assert row[9] == "0.500" and row[10] == "2"  # half the candidates accepted: 2 per accepted one
