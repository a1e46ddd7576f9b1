"""The ``standin`` command line: list, run, bench, eval, report, tb."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Literal

import tyro

NONE_WORDS = ("none", "None", "null")


def parse_kwargs(text: str, what: str) -> dict:
    """``"n=64,alpha=none,method=anneal"`` → ``{"n": 64, "alpha": None, "method": "anneal"}``.

    Values are read as TOML literals (ints, floats, booleans, quoted strings); ``True``/``False``
    are booleans too, ``none`` is None and anything else is a plain string.
    """
    from standin.benchmarks.suite import tomllib

    out = {}
    for part in filter(None, (p.strip() for p in _split_top_level(text))):
        key, sep, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"{what}: expected key=value pairs separated by commas, got {part!r}")
        if raw in NONE_WORDS:
            value = None
        elif raw in ("True", "False"):  # Python's spelling of TOML's true / false
            value = raw == "True"
        else:
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw
        out[key] = value
    return out


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and quotes, so ``sizes=[32,32]`` stays one pair."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def list_(verbose: bool = False) -> None:
    """List environments (with their arguments), agents (with their config fields) and suites.

    Args:
        verbose: Print each agent config field on its own line with its description.
    """
    from standin import agents, envs
    from standin.benchmarks import suite

    def _default(f: dataclasses.Field):
        return f.default_factory() if f.default is dataclasses.MISSING else f.default

    print("Environments:")
    for env_id in envs.ids():
        cls = envs.env_class(env_id)
        params = inspect.signature(cls.__init__).parameters.values()
        params = [p for p in params if p.name not in ("self", "render_mode")]
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"  {env_id:28s} {doc}")
        print("      " + ", ".join(f"{p.name}={p.default!r}" for p in params))
    print("\nAgents:")
    for name in agents.names():
        cfg = agents.agent_class(name).Config
        doc = (cfg.__doc__ or "").strip().splitlines()[0] if cfg.__doc__ else ""
        print(f"  {name:28s} {doc}")
        fields = dataclasses.fields(cfg)
        if fields and verbose:
            docs = agents.common.field_docs(cfg)
            for f in fields:
                print(f"      {f.name}={_default(f)!r}: {docs.get(f.name, '')}")
        elif fields:
            print("      " + ", ".join(f"{f.name}={_default(f)!r}" for f in fields))
    print("\nSuites:")
    for name in suite.names():
        desc = ""
        try:
            desc = suite.tomllib.loads((suite.SUITES_DIR / f"{name}.toml").read_text()).get("description", "")
        except Exception:  # a broken suite still lists; `standin bench` reports the error
            desc = "(cannot be parsed; run it to see the error)"
        print(f"  {name:28s} {desc}")


def run(
    env: str,
    agent: str,
    env_kwargs: str = "",
    agent_kwargs: str = "",
    seed: int = 0,
    train_steps: int = 0,
    eval_episodes: int = 20,
    out: Path = Path("runs/run"),
) -> int:
    """Train and evaluate one agent on one environment; append the result to OUT/results.jsonl.

    Args:
        env: Environment id, e.g. standin/Landscape-v0 (see `standin list`).
        agent: Agent name, e.g. value-search (see `standin list`).
        env_kwargs: Environment arguments as k=v,... (e.g. n=64,alpha=0.5; `none` is None).
        agent_kwargs: Agent config as k=v,... (e.g. value=oracle,budget=1000).
        seed: Trial seed (agent init, training and evaluation contexts).
        train_steps: Environment steps of training.
        eval_episodes: Evaluation episodes.
        out: Output directory for results.jsonl and TensorBoard logs (tb/).
    """
    from standin import agents, envs
    from standin.benchmarks.runner import run_trials
    from standin.benchmarks.suite import Trial

    env_kw = parse_kwargs(env_kwargs, "--env-kwargs")
    agent_kw = parse_kwargs(agent_kwargs, "--agent-kwargs")
    envs.make(env, **env_kw).close()  # validate before running
    agents.build_config(agents.agent_class(agent).Config, agent_kw, owner=agent)
    if train_steps < 0 or eval_episodes < 1:
        raise ValueError("--train-steps must be >= 0 and --eval-episodes >= 1")
    trial = Trial("run", env, env_kw, agent, agent_kw, seed, train_steps, eval_episodes)
    from standin.benchmarks.records import load_results

    run_trials([trial], out, workers=1, retry_failed=True, progress=False)
    record = [r for r in load_results(out / "results.jsonl") if r["trial_id"] == trial.trial_id][-1]
    if record["status"] != "ok":
        print(record["traceback"], file=sys.stderr)
        raise ValueError(f"trial failed: {record['error']}")
    m = record["metrics"]
    print(f"{record['env_label']} · {record['agent_label']} · seed {seed}")
    for key in ("normalized_return", "optimal_rate", "return", "decision_ms", "evaluations_per_decision",
                "train_seconds"):
        v = m.get(key)
        print(f"  {key:26s} {'—' if v is None else f'{v:.4g}'}")
    print(f"results: {out / 'results.jsonl'}   TensorBoard: standin tb {out}")
    return 0


def bench(
    suite: Annotated[str, tyro.conf.Positional],
    out: Path | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    no_report: bool = False,
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    seeds: int | None = None,
    train_steps: list[int] | None = None,
    max_log2_actions: float | None = None,
) -> int:
    """Run a benchmark suite (resumable), then write its report.

    Args:
        suite: A suite name (see `standin list`) or a path to a suite .toml file.
        out: Output directory (default runs/<suite name>).
        workers: Parallel trials (default: the cores; with --backend ray: as many as the cluster takes).
        retry_failed: Rerun trials whose recorded result is an error.
        no_report: Skip writing report.md.
        backend: local: a process pool here. ray: a Ray task per trial (pip install -e ".[ray]"); results land in OUT.
        address: With --backend ray: an existing cluster's address (e.g. auto); default: start a local Ray instance.
        seeds: Run only the suite's first K seeds (a quicker version; a later run without it adds the rest).
        train_steps: Run the learners only at these of the suite's training budgets (env steps; agents that
            don't learn always run). A later run without it adds the other budgets.
        max_log2_actions: Run only the env settings with at most 2^K actions (e.g. 64: the sizes up to
            2^64 of a size sweep). A later run without it adds the larger sizes.
    """
    from standin.benchmarks import suite as suites
    from standin.benchmarks.lock import writer_lock
    from standin.benchmarks.report import write_report
    from standin.benchmarks.runner import run_trials

    s = suites.load(suite)
    out = out or Path("runs") / s.name
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    trials = s.trials
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        kept = sorted({t.seed for t in trials})[:seeds]
        trials = [t for t in trials if t.seed in kept]
    if train_steps is not None:
        budgets = sorted({t.train_steps for t in trials if t.train_steps > 0})
        unknown = sorted(set(train_steps) - set(budgets))
        if unknown:
            raise ValueError(f"--train-steps {unknown} is not a training budget of suite {s.name}: "
                             f"it has {budgets or 'none (no agent learns)'}")
        trials = [t for t in trials if t.train_steps == 0 or t.train_steps in train_steps]
    if max_log2_actions is not None:
        sizes = sorted({t.log2_actions for t in trials if t.log2_actions is not None})
        if sizes and max_log2_actions < sizes[0] - 1e-9:
            raise ValueError(f"--max-log2-actions {max_log2_actions:g} leaves no env setting of suite {s.name}: "
                             f"its smallest action space has 2^{sizes[0]:.4g} actions")
        # a space whose size isn't known before the run (one search can't size) always runs
        trials = [t for t in trials if t.log2_actions is None or t.log2_actions <= max_log2_actions + 1e-9]
    with writer_lock(out):  # a second bench on this directory stops here, naming the first
        print(f"suite {s.name}: {len(trials)} trials → {out}")
        summary = run_trials(trials, out, workers=workers, retry_failed=retry_failed, title=s.name,
                             backend=backend, address=address)
        print(f"done: {summary['ok']} ok, {summary['error']} failed, {summary['skipped']} already recorded")
        if not no_report:
            report = write_report(out)
            print(f"report:      {report}")
    print(f"results:     {out / 'results.jsonl'}")
    print(f"TensorBoard: standin tb {out}   (prints the URL of each view; `make tb` serves all of runs/)")
    return 1 if summary["error"] else 0


def report(run_dir: Annotated[Path, tyro.conf.Positional]) -> int:
    """Write RUN_DIR/report.md and its figures from RUN_DIR/results.jsonl.

    Args:
        run_dir: A directory holding results.jsonl (e.g. runs/quick).
    """
    from standin.benchmarks.report import write_report

    print(write_report(run_dir))
    return 0


def eval_(
    checkpoint: Annotated[Path, tyro.conf.Positional],
    episodes: int = 100,
    seed: int | None = None,
) -> int:
    """Evaluate a saved agent (a trial's checkpoints/<trial_id>.pt) on fresh episodes.

    Args:
        checkpoint: A checkpoint file written by `standin bench` or `standin run`.
        episodes: Evaluation episodes.
        seed: Evaluation seed (default: the trial's own evaluation seed, so the trial's numbers repeat).
    """
    from standin.agents import checkpoint as ckpt
    from standin.benchmarks.runner import EVAL_SEED_OFFSET, evaluate

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    agent, env, payload = ckpt.load(checkpoint)
    eval_seed = payload["seed"] + EVAL_SEED_OFFSET if seed is None else seed
    m = evaluate(env, agent, episodes, eval_seed)
    print(f"{payload['env_id']} {payload['env_kwargs']} · {payload['agent']} · seed {payload['seed']}")
    for key in ("normalized_return", "optimal_rate", "return", "decision_ms", "evaluations_per_decision"):
        v = m.get(key)
        print(f"  {key:26s} {'—' if v is None else f'{v:.4g}'}")
    return 0


def tb(
    logdir: Annotated[Path, tyro.conf.Positional] = Path("runs"),
    port: int = 6006,
    host: str = "127.0.0.1",
    sweep: bool = False,
    filter: str = "ppo",
) -> int:
    """Serve TensorBoard over LOGDIR (bound to 127.0.0.1 unless --host says otherwise) and print the
    URL of each view: the sweep, every run's curves, a filtered group of runs, the hyperparameters.

    Args:
        logdir: A suite's run directory (e.g. runs/quick), its tb/, or a directory of several (runs).
        port: Port to serve on.
        host: Address to bind; 0.0.0.0 exposes it to the network.
        sweep: Serve only the sweep (one run per agent, each agent against log2 |A|), not the trials' runs.
        filter: The run filter (a regex on run names) in the printed filtered-view URLs, e.g. ppo, n=256_, seed0.
    """
    from standin.benchmarks.tbviews import sweep_dirs, tb_root, views

    if not logdir.exists():
        raise ValueError(f"no such log directory: {logdir} (run `standin bench` first)")
    root = tb_root(logdir)
    if sweep:
        found = sweep_dirs(root)
        if not found:
            raise ValueError(f"no sweep under {logdir}: a suite's tb/_sweep is written when its run finishes")
        where = (["--logdir", str(found[0])] if len(found) == 1 else
                 ["--logdir_spec", ",".join(f"{p.parent.parent.name}:{p}" for p in found)])
    else:
        where = ["--logdir", str(root)]
    cmd = [sys.executable, "-m", "tensorboard.main", *where, "--host", host, "--port", str(port)]
    base = f"http://{host}:{port}"
    print(f"TensorBoard over {root}{' (the sweep only)' if sweep else ''} on {base}  (Ctrl-C to stop)")
    for name, what, url in views(base, sweep_only=sweep, example_filter=filter):
        print(f"  {name + ':':27s}{url}\n  {'':27s}{what}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        for line in proc.stdout:  # TensorBoard's own start-up notes would repeat the above; errors pass
            if not any(note in line for note in TB_NOTES) and line.strip():
                print(line, end="", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return 0


TB_NOTES = ("TensorFlow installation not found", "Using experimental fast data loading", "--load_fast=false",
            "issues/4784", "(Press CTRL+C to quit)")
"""Lines of TensorBoard's start-up output that ``standin tb`` drops (the URL is printed above)."""


COMMANDS = {"list": list_, "run": run, "bench": bench, "eval": eval_, "report": report, "tb": tb}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``standin`` console script; bad input exits 2 with a one-line error."""
    try:
        code = tyro.extras.subcommand_cli_from_dict(COMMANDS, prog="standin", args=argv,
                                                    description=__doc__)
    except ValueError as e:
        if os.environ.get("STANDIN_DEBUG"):
            raise
        print(f"standin: error: {e}", file=sys.stderr)
        return 2
    return code or 0


def entry() -> None:
    """The ``standin`` console script: :func:`main`, and a prompt exit on Ctrl-C.

    The runner has already stopped its workers and every finished trial is on disk; exiting with
    ``os._exit`` skips waiting on the process pool's threads, which can take as long as a trial.
    """
    try:
        code = main()
    except KeyboardInterrupt:
        print("\nstandin: interrupted; finished trials are in results.jsonl (rerun the same command to resume)",
              file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    entry()
