"""The packaged smoke suite end to end: `standin bench smoke`, its records, report, figure and TensorBoard runs.

The suite runs once per module (a 2-process pool; well under a minute on 2 cores).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from standin.benchmarks import suite
from standin.benchmarks.cli import main
from standin.benchmarks.report import FIGURE_NAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIZE_GUIDANCE = {"compressedHistograms": 0, "images": 0, "audio": 0, "scalars": 0, "histograms": 0,
                 "tensors": 0}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    code = main(["bench", "smoke", "--out", str(out), "--workers", "2"])
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {"code": code, "out": out, "records": records, "suite": suite.load("smoke")}


@pytest.fixture(scope="module")
def runs(smoke):
    """trial_id → (trial, record, loaded EventAccumulator of its TensorBoard run)."""
    trials = {t.trial_id: t for t in smoke["suite"].trials}
    out = {}
    for record in smoke["records"]:
        trial = trials[record["trial_id"]]
        acc = EventAccumulator(str(smoke["out"] / "tb" / trial.run_name), size_guidance=SIZE_GUIDANCE)
        acc.Reload()
        out[record["trial_id"]] = (trial, record, acc)
    return out


def test_one_ok_record_per_trial(smoke):
    assert smoke["code"] == 0
    trials = smoke["suite"].trials
    records = smoke["records"]
    assert len(records) == len(trials)
    assert sorted(r["trial_id"] for r in records) == sorted(t.trial_id for t in trials)
    bad = [(r["agent_label"], r["error"]) for r in records if r["status"] != "ok"]
    assert not bad
    assert all(r["suite"] == "smoke" for r in records)


def test_rerun_skips_everything(smoke, capsys):
    before = (smoke["out"] / "results.jsonl").read_bytes()
    assert main(["bench", "smoke", "--out", str(smoke["out"]), "--workers", "2", "--no-report"]) == 0
    n = len(smoke["suite"].trials)
    assert f"done: 0 ok, 0 failed, {n} already recorded" in capsys.readouterr().out
    assert (smoke["out"] / "results.jsonl").read_bytes() == before


def test_report_and_figure(smoke):
    report = (smoke["out"] / "report.md").read_text()
    labels = {r["agent_label"] for r in smoke["records"]}
    assert labels == {t.label for t in smoke["suite"].trials}
    for label in labels:
        assert label in report
    assert f"{len(smoke['records'])} trials ok, 0 failed" in report
    figure = smoke["out"] / FIGURE_NAME
    assert figure.read_bytes()[:8] == PNG_MAGIC
    assert FIGURE_NAME in report


def test_oracle_is_one_and_oracle_search_beats_random(smoke):
    records = smoke["records"]
    for r in records:
        if r["agent"] == "oracle":
            assert r["metrics"]["normalized_return"] == pytest.approx(1.0)
            assert r["metrics"]["optimal_rate"] == 1.0

    def mean(select):
        values = [r["metrics"]["normalized_return"] for r in records if select(r)]
        assert values
        return float(np.mean(values))

    searched = mean(lambda r: r["agent"] == "value-search" and r["agent_config"]["value"] == "oracle")
    random = mean(lambda r: r["agent"] == "random")
    assert searched > random


def test_tensorboard_run_per_trial(smoke, runs):
    assert len(runs) == len(smoke["suite"].trials)
    for trial, _, _ in runs.values():
        run_dir = smoke["out"] / "tb" / trial.run_name
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1, run_dir


def test_tensorboard_eval_curves_match_the_records(runs):
    """Every run has an eval curve at the points of its comparison's budget: a learner's evaluations
    along training (the record's ``eval_curve``), a flat line for an agent that doesn't learn."""
    from standin.benchmarks.runner import eval_points

    horizon = {}
    for trial, _, _ in runs.values():
        horizon[trial.env_label] = max(horizon.get(trial.env_label, 0), trial.train_steps)
    for trial, record, acc in runs.values():
        events = acc.Scalars("eval/normalized_return")
        final = record["metrics"]["normalized_return"]
        assert events[-1].value == pytest.approx(final, rel=1e-6, abs=1e-6), trial.run_name
        if trial.train_steps > 0:
            curve = record["eval_curve"]
            assert [e.step for e in events] == curve["steps"] and curve["steps"][-1] == trial.train_steps
            assert [e.value for e in events] == pytest.approx(curve["normalized_return"], rel=1e-6, abs=1e-6)
            assert len(events) >= 3
        else:
            assert [e.step for e in events] == eval_points(horizon[trial.env_label]), trial.run_name
            assert len(events) == 5 and len({e.value for e in events}) == 1
        (event,) = acc.Scalars("eval/value_error") if "eval/value_error" in acc.Tags()["scalars"] else (None,)
        assert event is None or event.step == events[-1].step  # the diagnostics only at the end
        assert acc.Scalars("eval/evaluations_per_decision")[-1].value == pytest.approx(
            record["metrics"]["evaluations_per_decision"], rel=1e-6)


def test_tensorboard_hparams_and_config(runs):
    for trial, record, acc in runs.values():
        content = acc.PluginTagToContent("hparams")
        data = [plugin_data_pb2.HParamsPluginData.FromString(v) for v in content.values()]
        kinds = {d.WhichOneof("data") for d in data}
        assert {"session_start_info", "session_end_info"} <= kinds
        (start,) = [d.session_start_info for d in data if d.WhichOneof("data") == "session_start_info"]
        assert start.hparams["seed"].number_value == record["seed"] == trial.seed
        assert start.hparams["agent"].string_value == record["agent"]
        assert start.hparams["agent_label"].string_value == record["agent_label"]
        assert start.hparams["env.n"].number_value == record["env_kwargs"]["n"]

        assert "config/text_summary" in acc.Tags()["tensors"]
        (text,) = acc.Tensors("config/text_summary")
        table = text.tensor_proto.string_val[0].decode()
        assert "| seed |" in table and record["agent"] in table


def test_training_agents_log_train_scalars(runs):
    checked = set()
    for trial, record, acc in runs.values():
        tags = acc.Tags()["scalars"]
        if record["agent"] == "ppo" or record["agent_config"].get("value") == "quadratic":
            losses = [t for t in tags if t.startswith("train/loss/")]
            assert losses, (trial.run_name, tags)
            assert "train/episodic_return" in tags
            assert all(len(acc.Scalars(t)) >= 1 for t in losses)
            checked.add(record["agent"])
        else:
            assert not [t for t in tags if t.startswith("train/")]
    assert checked == {"ppo", "value-search"}


def test_one_experiment_at_the_root_declares_every_hparam(smoke, runs):
    """TensorBoard reads one experiment: it must list every trial's hparams and the eval metrics."""
    root = EventAccumulator(str(smoke["out"] / "tb"), size_guidance=SIZE_GUIDANCE)
    root.Reload()
    data = [plugin_data_pb2.HParamsPluginData.FromString(v) for v in root.PluginTagToContent("hparams").values()]
    (experiment,) = [d.experiment for d in data if d.WhichOneof("data") == "experiment"]
    declared = {h.name for h in experiment.hparam_infos}
    for _, _, acc in runs.values():
        content = acc.PluginTagToContent("hparams").values()
        starts = [plugin_data_pb2.HParamsPluginData.FromString(v) for v in content]
        (start,) = [d.session_start_info for d in starts if d.WhichOneof("data") == "session_start_info"]
        assert set(start.hparams) <= declared
    assert "agent.budget" in declared and "agent.learning_rate" in declared  # from different agents
    assert "eval/normalized_return" in {m.name.tag for m in experiment.metric_infos}


def test_sweep_runs_have_the_crossover_curves_and_a_custom_scalars_layout(smoke):
    """tb/_sweep/<agent>: each agent's seed-mean metric at step round(log2 |A|), one run per agent;
    tb/_sweep itself: one chart per family and metric, whose regex matches that tag only."""
    import re

    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    from standin.benchmarks.suite import safe_name
    from standin.benchmarks.tblog import SWEEP_RUN, sweep_tag

    root = smoke["out"] / "tb" / SWEEP_RUN
    ok = [r for r in smoke["records"] if r["status"] == "ok"]
    groups: dict[tuple, list[float]] = {}
    for r in ok:
        key = (r["env_family"], r["agent_label"], int(round(r["log2_actions"])))
        groups.setdefault(key, []).append(r["metrics"]["normalized_return"])
    agents = {a for _, a, _ in groups}
    assert {p.name for p in root.iterdir() if p.is_dir()} == {safe_name(a) for a in agents}
    for (family, agent, step), values in groups.items():
        acc = EventAccumulator(str(root / safe_name(agent)), size_guidance=SIZE_GUIDANCE)
        acc.Reload()
        events = {e.step: e.value for e in acc.Scalars(sweep_tag(family, "normalized_return"))}
        assert events[step] == pytest.approx(np.mean(values), rel=1e-5, abs=1e-6)
    assert sorted({s for _, _, s in groups}) == [6, 10]  # Landscape n=6 and n=10: |A| = 2^n

    acc = EventAccumulator(str(root), size_guidance=SIZE_GUIDANCE)
    acc.Reload()
    assert not acc.Tags()["scalars"]  # the layout's run holds no curve of its own
    (event,) = acc.Tensors(metadata.CONFIG_SUMMARY_TAG)
    layout = layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])
    (category,) = [c for c in layout.category if c.title == "sweep: Landscape-v0"]
    charts = {c.title: list(c.multiline.tag) for c in category.chart}
    assert "normalized_return vs log2 |A|" in charts and "decision_ms vs log2 |A|" in charts
    (pattern,) = charts["normalized_return vs log2 |A|"]
    tags = {sweep_tag(f, m) for f, _, _ in groups for m in ("normalized_return", "decision_ms", "return")}
    assert {t for t in tags if re.search(pattern, t)} == {sweep_tag("Landscape-v0", "normalized_return")}


def test_tensorboard_serves_every_agent_to_every_chart(smoke):
    """A live TensorBoard on 127.0.0.1, asked what its frontend asks: the runs, each run's tags, each
    run's eval curve, the custom-scalars layout and, for every chart of it, the scalars its regex
    matches in every agent's sweep run."""
    import urllib.request
    from urllib.parse import quote

    from standin.benchmarks.perf.tb_screens import free_port, serve
    from standin.benchmarks.suite import safe_name
    from standin.benchmarks.tbviews import SWEEP_DIR

    def get(path):
        with urllib.request.urlopen(f"{base}{path}", timeout=30) as r:
            return json.load(r)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(smoke["out"] / "tb", port)
    try:
        trials = smoke["suite"].trials
        agents = {t.label for t in trials}
        sweep_runs = {f"{SWEEP_DIR}/{safe_name(a)}" for a in agents}
        runs = set(get("/data/runs"))
        assert {t.run_name for t in trials} | sweep_runs <= runs

        tags = get("/data/plugin/scalars/tags")
        for t in trials:
            assert "eval/normalized_return" in tags[t.run_name], t.run_name
            curve = get(f"/data/plugin/scalars/scalars?run={quote(t.run_name)}&tag={quote('eval/normalized_return')}")
            assert len(curve) == 5 and [step for _, step, _ in curve] == sorted({s for _, s, _ in curve})

        layout = get("/data/plugin/custom_scalars/layout")
        charts = [(c["title"], pattern) for cat in layout["category"] for c in cat["chart"]
                  for pattern in c["multiline"]["tag"]]
        assert {title for title, _ in charts} >= {"normalized_return vs log2 |A|", "decision_ms vs log2 |A|"}
        for title, pattern in charts:
            for run in sweep_runs:
                data = get(f"/data/plugin/custom_scalars/scalars?run={quote(run)}&tag={quote(pattern)}")
                assert data["regex_valid"], pattern
                (events,) = data["tag_to_events"].values()  # one tag per chart and run
                assert [step for _, step, _ in events] == [6, 10], (title, run)  # both sizes: log2 |A| = n
    finally:
        proc.terminate()
        proc.wait()
