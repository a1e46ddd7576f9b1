"""benchmarks.report: statistics on hand-computed values, reading results.jsonl, the written report."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from benchmarks.report import load_results, summarize, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T_975_DF2 = 4.302652729911275  # Student-t 97.5% quantile, 2 degrees of freedom (from tables)


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
        "seed": seed,
        "train_steps": 0,
        "eval_episodes": 2,
        "metrics": {
            "return": 1.0, "return_std": 0.1, "optimal_return": 2.0, "random_return": 0.0,
            "normalized_return": normalized_return, "optimal_rate": 0.25, "decision_ms": 1.2345,
            "evaluations_per_decision": 100.0, "decisions": 10, "train_seconds": 0.0,
            "train_env_steps": 0, "eval_seconds": 0.1,
        },
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
    first = (write_report(run_dir).read_bytes(), (run_dir / "normalized_return_vs_log2A.png").read_bytes())
    second = (write_report(run_dir).read_bytes(), (run_dir / "normalized_return_vs_log2A.png").read_bytes())
    assert first == second


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
