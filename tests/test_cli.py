"""benchmarks.cli: k=v parsing, one-line errors with exit code 2, `run` and `list`."""

from __future__ import annotations

import json

import pytest

from standin import agents, envs
from standin.benchmarks import suite
from standin.benchmarks.cli import main, parse_kwargs

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def test_parse_kwargs_reads_python_booleans_too():
    assert parse_kwargs("a=True,b=False,c=true", "--agent-kwargs") == {"a": True, "b": False, "c": True}


def test_parse_kwargs_types():
    parsed = parse_kwargs("n=64,alpha=none,method=anneal,lr=0.5,flag=true", "--env-kwargs")
    assert parsed == {"n": 64, "alpha": None, "method": "anneal", "lr": 0.5, "flag": True}
    assert type(parsed["n"]) is int and type(parsed["lr"]) is float and type(parsed["flag"]) is bool


def test_parse_kwargs_quoted_strings_spaces_and_empty():
    assert parse_kwargs(' value = "oracle" , budget=10 ,', "x") == {"value": "oracle", "budget": 10}
    assert parse_kwargs("", "x") == {}
    assert parse_kwargs("a=None,b=null,c=-3,d=1e3", "x") == {"a": None, "b": None, "c": -3, "d": 1000.0}


@pytest.mark.parametrize("text", ["n", "n:4", "=4", "1n=4"])
def test_parse_kwargs_rejects_non_pairs(text):
    with pytest.raises(ValueError, match="--env-kwargs"):
        parse_kwargs(text, "--env-kwargs")


BAD_RUNS = {
    "unknown_env": (["--env", "standin/Nope-v0", "--agent", "random"], "standin/Nope-v0"),
    "unknown_agent": (["--env", "standin/Landscape-v0", "--agent", "telepath"], "telepath"),
    "env_kwarg_out_of_range": (["--env", "standin/Landscape-v0", "--env-kwargs", "n=0", "--agent", "random"],
                               "n must be"),
    "unknown_env_kwarg": (["--env", "standin/Landscape-v0", "--env-kwargs", "m=3", "--agent", "random"], "'m'"),
    "unknown_agent_kwarg": (["--env", "standin/Landscape-v0", "--agent", "value-search",
                             "--agent-kwargs", "bugdet=3"], "bugdet"),
    "agent_kwarg_out_of_range": (["--env", "standin/Landscape-v0", "--agent", "value-search",
                                  "--agent-kwargs", "budget=0"], "budget"),
    "malformed_kwargs": (["--env", "standin/Landscape-v0", "--env-kwargs", "n", "--agent", "random"],
                         "--env-kwargs"),
}


def assert_one_line_error(capsys, code, needle):
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("standin: error: ")
    assert needle in err
    return err


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_run_bad_input_is_a_one_line_error(case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STANDIN_DEBUG", raising=False)
    args, needle = BAD_RUNS[case]
    code = main(["run", *args, "--out", str(tmp_path / "out")])
    assert_one_line_error(capsys, code, needle)
    assert not (tmp_path / "out").exists()  # validated before anything ran
    assert not (tmp_path / "runs").exists()


def test_bench_unknown_suite_is_a_one_line_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STANDIN_DEBUG", raising=False)
    code = main(["bench", "no-such-suite", "--out", str(tmp_path / "out")])
    err = assert_one_line_error(capsys, code, "no-such-suite")
    for name in suite.names():  # the message lists the suites there are
        assert name in err
    assert not (tmp_path / "out").exists()


def test_bench_malformed_suite_file_is_a_one_line_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STANDIN_DEBUG", raising=False)
    path = tmp_path / "bad.toml"
    path.write_text('[[envs]]\nid = "standin/Landscape-v0"\nkwargs = { n = 0 }\n[[agents]]\nname = "random"\n')
    code = main(["bench", str(path), "--out", str(tmp_path / "out")])
    assert_one_line_error(capsys, code, str(path))


def test_run_writes_results(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--env", "standin/Landscape-v0", "--env-kwargs", "n=6", "--agent", "oracle",
                 "--eval-episodes", "4", "--out", str(out)])
    assert code == 0
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["status"] == "ok"
    assert record["env_kwargs"] == {"n": 6} and record["agent"] == "oracle"
    assert record["eval_episodes"] == 4 and record["metrics"]["decisions"] == 4
    assert record["metrics"]["normalized_return"] == pytest.approx(1.0)
    assert list((out / "tb").rglob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "normalized_return" in printed and "Landscape-v0 n=6" in printed
    # the same run again is recorded once only
    assert main(["run", "--env", "standin/Landscape-v0", "--env-kwargs", "n=6", "--agent", "oracle",
                 "--eval-episodes", "4", "--out", str(out)]) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def test_run_passes_agent_kwargs(tmp_path):
    out = tmp_path / "run"
    code = main(["run", "--env", "standin/Landscape-v0", "--env-kwargs", "n=5,alpha=none", "--agent",
                 "value-search", "--agent-kwargs", "budget=7,method=random", "--seed", "3",
                 "--eval-episodes", "2", "--out", str(out)])
    assert code == 0
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["env_kwargs"] == {"n": 5, "alpha": None}
    assert record["agent_config"]["budget"] == 7 and record["agent_config"]["method"] == "random"
    assert record["seed"] == 3
    assert record["metrics"]["evaluations_per_decision"] == 7


def test_list_names_envs_agents_and_suites(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id in envs.ids():
        assert env_id in out
    for name in agents.names():
        assert name in out
    for name in suite.names():
        assert name in out
    assert "standin/Landscape-v0" in out and {"random", "oracle", "value-search", "ppo"} <= set(agents.names())
    assert "teacher_config={}" in out and "MISSING" not in out  # fields with a default factory show it


def test_bench_seeds_runs_the_first_k_seeds_and_a_later_run_adds_the_rest(tmp_path, capsys):
    path = tmp_path / "three.toml"
    path.write_text('seeds = [5, 3, 9]\neval_episodes = 2\n[[envs]]\nid = "standin/Landscape-v0"\n'
                    'kwargs = { n = 4 }\n[[agents]]\nname = "random"\n')
    out = tmp_path / "out"
    assert main(["bench", str(path), "--out", str(out), "--workers", "1", "--seeds", "2", "--no-report"]) == 0
    seeds = [json.loads(line)["seed"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(seeds) == [3, 5]
    assert main(["bench", str(path), "--out", str(out), "--workers", "1", "--no-report"]) == 0
    seeds = [json.loads(line)["seed"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(seeds) == [3, 5, 9]
    assert main(["bench", str(path), "--out", str(out), "--seeds", "0"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_bench_max_log2_actions_runs_the_small_sizes_and_a_later_run_adds_the_rest(tmp_path, capsys):
    path = tmp_path / "sizes.toml"
    path.write_text('seeds = [0]\neval_episodes = 2\n[[envs]]\nid = "standin/Landscape-v0"\n'
                    'sweep = { n = [4, 6, 8] }\n[[envs]]\nid = "standin/Slate-v0"\nkwargs = { N = 10, k = 3 }\n'
                    '[[agents]]\nname = "random"\n')
    out = tmp_path / "out"

    def recorded():
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        size = [r["env_kwargs"].get("n", r["env_kwargs"].get("N")) for r in rows]
        return sorted((r["env_id"], n, round(r["log2_actions"], 3)) for r, n in zip(rows, size, strict=True))

    # C(10, 3) = 120 actions: log2 6.907, kept at 7 along with 2^4 and 2^6, not with 2^8
    assert main(["bench", str(path), "--out", str(out), "--workers", "1", "--max-log2-actions", "7",
                 "--no-report"]) == 0
    assert recorded() == [("standin/Landscape-v0", 4, 4.0), ("standin/Landscape-v0", 6, 6.0),
                          ("standin/Slate-v0", 10, 6.907)]
    assert main(["bench", str(path), "--out", str(out), "--workers", "1", "--no-report"]) == 0
    assert [r[1] for r in recorded()] == [4, 6, 8, 10]
    assert main(["bench", str(path), "--out", str(out), "--max-log2-actions", "3"]) == 2
    assert "--max-log2-actions 3 leaves no env setting" in capsys.readouterr().err


def test_bench_train_steps_runs_the_learners_at_those_budgets_and_a_later_run_adds_the_rest(tmp_path, capsys):
    path = tmp_path / "budgets.toml"
    path.write_text('seeds = [0]\neval_episodes = 2\ntrain_steps = [64, 128]\n[[envs]]\nid = "standin/Landscape-v0"\n'
                    'kwargs = { n = 4 }\n[[agents]]\nname = "random"\n[[agents]]\nname = "ppo"\n'
                    'config = { num_envs = 1, num_steps = 32, update_epochs = 1 }\n')
    out = tmp_path / "out"

    def recorded():
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        return sorted((r["agent"], r["train_steps"]) for r in rows)

    assert main(["bench", str(path), "--out", str(out), "--workers", "1", "--train-steps", "64", "--no-report"]) == 0
    assert recorded() == [("ppo", 64), ("random", 0)]  # agents that don't learn run at any budget filter
    assert main(["bench", str(path), "--out", str(out), "--workers", "1", "--no-report"]) == 0
    assert recorded() == [("ppo", 64), ("ppo", 128), ("random", 0)]
    assert main(["bench", str(path), "--out", str(out), "--train-steps", "100"]) == 2
    assert "--train-steps [100] is not a training budget" in capsys.readouterr().err


class FakeTensorBoard:
    """Stands in for the TensorBoard process: records its command line, prints its start-up notes."""

    calls: list[list[str]] = []

    def __init__(self, cmd, **kwargs):
        FakeTensorBoard.calls.append(cmd)
        self.stdout = iter(["TensorFlow installation not found - running with reduced feature set.\n", "\n",
                            "NOTE: Using experimental fast data loading logic. To disable, pass\n",
                            '    "--load_fast=false" and report issues on GitHub. More details:\n',
                            "    https://github.com/tensorflow/tensorboard/issues/4784\n",
                            "TensorBoard 2.21.0 at http://127.0.0.1:6007/ (Press CTRL+C to quit)\n",
                            "E1203 port 6007 is in use\n"])

    def wait(self):
        return 0


def test_tb_prints_each_view_and_serves_the_suite_or_its_sweep(tmp_path, capsys, monkeypatch):
    import subprocess
    from urllib.parse import quote

    from standin.benchmarks.tbviews import CURVE_TAGS

    monkeypatch.setattr(subprocess, "Popen", FakeTensorBoard)
    FakeTensorBoard.calls = []
    run = tmp_path / "quick"
    (run / "tb" / "_sweep" / "ppo").mkdir(parents=True)
    assert main(["tb", str(run), "--port", "6007", "--filter", "n=256_"]) == 0
    out = capsys.readouterr().out
    (cmd,) = FakeTensorBoard.calls
    assert cmd[cmd.index("--logdir") + 1] == str(run / "tb") and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    urls = [line.split()[-1] for line in out.splitlines() if "http://127.0.0.1:6007/" in line]
    assert "http://127.0.0.1:6007/?smoothing=0#custom_scalars&regexInput=_sweep&_smoothingWeight=0" in urls
    tags = quote(CURVE_TAGS, safe="")
    assert f"http://127.0.0.1:6007/?smoothing=0#scalars&regexInput=n%3D256_&tagFilter={tags}&_smoothingWeight=0" in urls
    assert "http://127.0.0.1:6007/?smoothing=0&runFilter=n%3D256_#timeseries" in urls
    assert "E1203 port 6007 is in use" in out  # TensorBoard's errors pass, its start-up notes don't
    assert "TensorFlow" not in out and "load_fast" not in out and "CTRL+C" not in out

    assert main(["tb", str(tmp_path), "--sweep"]) == 0  # a directory of suites: their sweeps
    cmd = FakeTensorBoard.calls[-1]
    assert cmd[cmd.index("--logdir") + 1] == str(run / "tb" / "_sweep")
    (tmp_path / "smoke" / "tb" / "_sweep").mkdir(parents=True)
    assert main(["tb", str(tmp_path), "--sweep"]) == 0  # several: one named group each
    cmd = FakeTensorBoard.calls[-1]
    assert cmd[cmd.index("--logdir_spec") + 1] == f"quick:{run}/tb/_sweep,smoke:{tmp_path}/smoke/tb/_sweep"
    (run / "tb" / "_sweep").rename(run / "tb" / "elsewhere")
    assert main(["tb", str(run), "--sweep"]) == 2
    assert "no sweep under" in capsys.readouterr().err
