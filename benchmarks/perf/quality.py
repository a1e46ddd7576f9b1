"""Search quality on Landscape-v0: how close each search method gets to the planted optimum within a budget.

    python -m standin.benchmarks.perf.quality [--quick] [--contexts K] [--out PATH] [--workers W]
                                      [--max-seconds-per-run S] [--cache PATH]

For alpha in {0.25, 0.5, 1, 2}, n in {16, 64, 256, 1024} and every method of ``search.METHODS`` but
``exhaustive`` and ``exact`` (plus greedy with ``improvement="best"``), each with its default options,
it runs ``search.maximize`` on the exact reward landscape of K contexts (``env.reset(seed=s)`` for s in
range(K), ``instance_seed=0``, default ``field``; search seed ``s``) at budgets of 10²·n, 10³·n and 10⁴·n
evaluations, and reports per cell

- the mean normalised score ``(score − random_value) / (0 − random_value)``: 0 is the expected reward
  of a uniform random action, 1 the planted optimum;
- the optimal rate: the fraction of contexts where the returned action is the planted optimum.

Cost control, per method and n, budget by budget from the smallest (a probe run at 10·n comes first):
a budget whose seconds per run, estimated as ten times the median of the next smaller budget, exceed
``1.5 × --max-seconds-per-run`` is not run; otherwise its first run (alpha 0.25, context 0) is run alone
as a pilot, and if that takes longer than the cap the rest is not run. A budget not run ends its method
and n: larger budgets are not run either. The tables show "—" and list the seconds. The decision is
the same for every alpha.

Runs go to a process pool of ``--workers`` processes with one thread each. Every finished run is
appended to a JSONL cache (default: next to the output); a rerun skips runs already there, as long as
the sources of ``search/`` and ``envs/landscape.py`` are unchanged. This is a report, not a test:
methods run with their defaults, untuned.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from standin.benchmarks.runner import cpu_model

ALPHAS = (0.25, 0.5, 1.0, 2.0)
SIZES = (16, 64, 256, 1024)
QUICK_SIZES = (16, 64)
LEVELS = (2, 3, 4)  # reported budgets: 10**level · n
PROBE = 1  # a timing probe at budget 10·n: one run, not reported
PILOT_FACTOR = 1.5  # a budget estimated above this times the cap is not even piloted
EXCLUDED = ("exhaustive", "exact")
OPTIMAL_TOL = 1e-9
THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path(__file__).with_name("quality.md")
QUICK_OUT = ROOT / "runs" / "perf" / "quality-quick.md"
OBSERVATIONS = "## Observations"
PLACEHOLDER = "_Not written yet for these numbers._"


# ----------------------------------------------------------------------------- methods and versions


def method_specs() -> dict[str, tuple[str, dict]]:
    """Row label → (method, options): every method but exhaustive and exact, with defaults."""
    from standin.search import METHODS

    specs = {}
    for method in METHODS:
        if method in EXCLUDED:
            continue
        specs[method] = (method, {})
        if method == "greedy":
            specs["greedy/best"] = ("greedy", {"improvement": "best"})
    return specs


def source_digest() -> str:
    """A digest of the code whose behaviour the table measures: ``search/*.py`` and ``envs/landscape.py``."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "search").glob("*.py")) + [ROOT / "envs" / "landscape.py"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "search", "envs"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" with uncommitted changes to search/ or envs/" if dirty else "")


# ----------------------------------------------------------------------------- worker side

_ENVS: dict = {}
_WORKER: dict = {}


def _init_worker() -> None:
    """Compile (or load) the kernels once per worker, so that timed runs exclude JIT."""
    from standin import search
    from standin.envs import env_class

    search.warmup()
    env = env_class("standin/Landscape-v0")(n=8, alpha=0.5)
    env.reset(seed=0)
    q = env.landscape()
    for method, opts in method_specs().values():
        search.maximize(q, env.action_space, method, 64, seed=0, **opts)
    _WORKER["digest"] = source_digest()


def _env(alpha: float, n: int):
    key = (alpha, n)
    if key not in _ENVS:
        from standin.envs import env_class

        _ENVS[key] = env_class("standin/Landscape-v0")(n=n, alpha=alpha, instance_seed=0)
    return _ENVS[key]


def run_one(task: tuple) -> dict:
    """One search on one context: ``task = (alpha, n, label, level, context)``; returns a cache row."""
    import numpy as np

    from standin import search

    alpha, n, label, level, context = task
    method, opts = method_specs()[label]
    budget = 10**level * n
    env = _env(alpha, n)
    _, info = env.reset(seed=context)
    landscape = env.landscape()
    row = {
        "alpha": alpha,
        "n": n,
        "method": label,
        "level": level,
        "context": context,
        "budget": budget,
        "digest": _WORKER.get("digest") or source_digest(),
    }
    try:
        res = search.maximize(landscape, env.action_space, method, budget, seed=context, **opts)
    except Exception as err:  # a crash is a result: report it, keep going
        row["error"] = f"{type(err).__name__}: {err}"
        return row
    random_value = float(info["random_value"])
    optimal_value = float(info["optimal_value"])
    row.update(
        score=res.score,
        random_value=random_value,
        normalised=(res.score - random_value) / (optimal_value - random_value),
        optimal=bool(np.array_equal(np.asarray(res.action), env.optimal_action())),
        score_optimal=bool(res.score >= optimal_value - OPTIMAL_TOL),
        reward_gap=abs(res.score - env.reward(res.action)),
        evaluations=res.evaluations,
        seconds=res.seconds,
    )
    return row


# ----------------------------------------------------------------------------- scheduling


@dataclass
class Chain:
    """The budgets of one (method, n), decided in increasing order."""

    label: str
    n: int
    next_level: int = PROBE
    piloted: bool = False  # the pilot run of ``next_level`` was submitted (or found in the cache)
    finished: bool = False
    waiting: set = field(default_factory=set)  # submitted tasks not finished yet
    skipped: dict = field(default_factory=dict)  # level → (seconds per run, "one run" or "estimate")


class Scheduler:
    """Decides, budget by budget, which runs to make; see the module docstring."""

    def __init__(self, args, rows: dict):
        self.args = args
        self.rows = rows  # task → row
        self.chains = [Chain(label, n) for n in args.sizes for label in args.labels]

    def tasks(self, chain: Chain, level: int) -> list[tuple]:
        if level == PROBE:
            return [(self.args.alphas[0], chain.n, chain.label, level, 0)]
        return [(a, chain.n, chain.label, level, s) for a in self.args.alphas for s in range(self.args.contexts)]

    def median_seconds(self, chain: Chain, level: int) -> float | None:
        secs = [self.rows[t]["seconds"] for t in self.tasks(chain, level) if "seconds" in self.rows.get(t, {})]
        return statistics.median(secs) if secs else None

    def advance(self) -> list[tuple]:
        """Decide every chain whose submitted runs are finished; return the tasks to run now."""
        todo = []
        for chain in self.chains:
            while not chain.waiting and not chain.finished:
                todo += self.step(chain)
        return todo

    def step(self, chain: Chain) -> list[tuple]:
        level = chain.next_level
        if level > LEVELS[-1]:
            chain.finished = True
            return []
        tasks = self.tasks(chain, level)
        cap = self.args.max_seconds_per_run
        if level in LEVELS:
            if not chain.piloted:
                below = self.median_seconds(chain, level - 1)
                estimate = None if below is None else 10 * below
                if estimate is not None and estimate > PILOT_FACTOR * cap:
                    self.skip(chain, level, estimate, "estimate")
                    return []
                chain.piloted = True
                if tasks[0] not in self.rows:
                    chain.waiting = {tasks[0]}
                    return [tasks[0]]
            pilot = self.rows[tasks[0]].get("seconds")
            if pilot is not None and pilot > cap:
                self.skip(chain, level, pilot, "one run")
                return []
        chain.next_level += 1
        chain.piloted = False
        rest = [t for t in tasks if t not in self.rows]
        chain.waiting = set(rest)
        return rest

    def skip(self, chain: Chain, level: int, seconds: float, how: str) -> None:
        """Skip ``level`` and every larger budget; larger ones are estimated linearly from ``seconds``."""
        chain.skipped[level] = (seconds, how)
        for later in range(level + 1, LEVELS[-1] + 1):
            chain.skipped[later] = (seconds * 10 ** (later - level), "estimate")
        chain.finished = True

    def task_done(self, task: tuple) -> None:
        for chain in self.chains:
            chain.waiting.discard(task)


def load_cache(path: Path, digest: str) -> tuple[dict, int]:
    rows, stale = {}, 0
    if not path.exists():
        return rows, stale
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
        if row.get("digest") != digest:
            stale += 1
            continue
        rows[(row["alpha"], row["n"], row["method"], row["level"], row["context"])] = row
    return rows, stale


def run_all(args, rows: dict, cache: Path) -> Scheduler:
    sched = Scheduler(args, rows)
    for var in THREAD_VARS:  # spawned workers inherit these before they import numpy or numba
        os.environ[var] = "1"
    ctx = get_context("spawn")
    done = 0
    with cache.open("a") as sink, ProcessPoolExecutor(args.workers, mp_context=ctx, initializer=_init_worker) as pool:
        futures = {pool.submit(run_one, t): t for t in sched.advance()}
        try:
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = futures.pop(fut)
                    row = fut.result()
                    rows[task] = row
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    sched.task_done(task)
                    done += 1
                    what = row.get("error") or f"{row['seconds']:.3g} s, normalised {row['normalised']:.3f}"
                    alpha, n, label, level, context = task
                    print(f"[{done}] {label} n={n} alpha={alpha} 10^{level}n context={context}: {what}", flush=True)
                for t in sched.advance():
                    futures[pool.submit(run_one, t)] = t
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    sched.advance()  # every chain decided (also when everything came from the cache)
    return sched


# ----------------------------------------------------------------------------- report


def level_name(level: int) -> str:
    return "10" + "⁰¹²³⁴⁵⁶⁷⁸⁹"[level] + "n"


def fmt_seconds(sec: float) -> str:
    """Two significant digits, no exponent (whole seconds from 10 s up)."""
    if sec >= 10:
        return f"{sec:.0f}"
    if sec <= 0:
        return "0"
    sec = float(f"{sec:.2g}")
    return f"{sec:.{max(0, 1 - math.floor(math.log10(sec)))}f}"


def alpha_name(alpha: float) -> str:
    return f"{alpha:g}"


def quality_tables(args, sched: Scheduler) -> str:
    rows = sched.rows
    chains = {(c.label, c.n): c for c in sched.chains}
    head = "| method | " + " | ".join(f"n={n}, {level_name(lv)}" for n in args.sizes for lv in LEVELS) + " |"
    rule = "|---|" + "---:|" * (len(args.sizes) * len(LEVELS))
    out = []
    for alpha in args.alphas:
        out += [f"### alpha = {alpha_name(alpha)}", "", head, rule]
        for label in args.labels:
            cells = []
            for n in args.sizes:
                for lv in LEVELS:
                    if lv in chains[(label, n)].skipped:
                        cells.append("—")
                        continue
                    runs = [rows.get((alpha, n, label, lv, s)) for s in range(args.contexts)]
                    if any(r is None for r in runs):
                        cells.append("missing")
                    elif any("error" in r for r in runs):
                        cells.append("error")
                    else:
                        score = statistics.fmean(r["normalised"] for r in runs)
                        rate = statistics.fmean(float(r["optimal"]) for r in runs)
                        cells.append(f"{score:.2f} / {rate:.2f}")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def timing_table(args, sched: Scheduler) -> str:
    chains = {(c.label, c.n): c for c in sched.chains}
    head = "| method | " + " | ".join(f"n={n}, {level_name(lv)}" for n in args.sizes for lv in LEVELS) + " |"
    rule = "|---|" + "---:|" * (len(args.sizes) * len(LEVELS))
    out = [head, rule]
    for label in args.labels:
        cells = []
        for n in args.sizes:
            chain = chains[(label, n)]
            for lv in LEVELS:
                if lv in chain.skipped:
                    sec, how = chain.skipped[lv]
                    cells.append(f"({fmt_seconds(sec)}, 1 run)" if how == "one run" else f"(≈{fmt_seconds(sec)})")
                    continue
                sec = sched.median_seconds(chain, lv)
                cells.append("—" if sec is None else fmt_seconds(sec))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def skipped_note(args, sched: Scheduler) -> str:
    items = []
    for chain in sched.chains:
        for lv, (sec, how) in sorted(chain.skipped.items()):
            what = f"{fmt_seconds(sec)} s for one run" if how == "one run" else f"estimated ≈{fmt_seconds(sec)} s"
            items.append(f"{chain.label} n={chain.n} {level_name(lv)} ({what})")
    if not items:
        return ""
    return (
        f"— : not run, because one run takes longer than the cap of {args.max_seconds_per_run:g} s: either its "
        "first run (the pilot) took longer, or ten times the median of the next smaller budget is above "
        f"{PILOT_FACTOR:g} × the cap (an estimate that assumes a cost linear in the budget). "
        "The same cells are missing in every alpha table: " + "; ".join(items) + "."
    )


def reported_tasks(args, sched: Scheduler) -> list[tuple]:
    """The runs behind the quality tables, finished or not."""
    tasks = []
    for chain in sched.chains:
        for level in LEVELS:
            if level not in chain.skipped:
                tasks += sched.tasks(chain, level)
    return tasks


def anomalies(args, sched: Scheduler) -> list[str]:
    """Checks on every reported run: crashes, over-budget runs, reported scores that differ from the env's
    reward, and an optimal score without the optimal action (or the reverse)."""
    found = []
    for task in sorted(reported_tasks(args, sched)):
        row = sched.rows.get(task)
        if row is None:
            continue
        alpha, n, label, level, context = task
        where = f"{label} n={n} alpha={alpha_name(alpha)} budget {level_name(level)} context {context}"
        if "error" in row:
            found.append(f"{where}: crashed: {row['error']}")
            continue
        if row["evaluations"] > row["budget"]:
            found.append(f"{where}: used {row['evaluations']} evaluations, budget {row['budget']}")
        if row["reward_gap"] > 1e-9:
            found.append(f"{where}: reported score differs from the env's reward by {row['reward_gap']:.3g}")
        if row["optimal"] != row["score_optimal"]:
            found.append(f"{where}: optimal action {row['optimal']} but optimal score {row['score_optimal']}")
    return found


def machine() -> str:
    cpu = cpu_model() or platform.machine()
    import numba
    import numpy as np

    return (
        f"{cpu}, {os.cpu_count()} logical CPUs (shared with other work), {platform.system()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
    )


def command(args) -> str:
    parts = ["python -m standin.benchmarks.perf.quality"]
    if args.quick:
        parts.append("--quick")
    parts += [
        f"--contexts {args.contexts}",
        f"--max-seconds-per-run {args.max_seconds_per_run:g}",
        f"--workers {args.workers}",
    ]
    return " ".join(parts)


def previous_observations(path: Path, tables_digest: str) -> str | None:
    """The hand-written observations of ``path``, if they were written for the same quality tables."""
    if not path.exists():
        return None
    text = path.read_text()
    if f"<!-- quality-tables: {tables_digest} -->" not in text or OBSERVATIONS not in text:
        return None
    section = text.split(OBSERVATIONS, 1)[1].strip()
    return None if section.startswith(PLACEHOLDER) else section


def write_report(args, sched: Scheduler, wall: float, cached: set, digest: str, revision: str) -> None:
    tables = quality_tables(args, sched)
    tables_digest = hashlib.sha256(tables.encode()).hexdigest()[:12]
    tasks = [t for t in reported_tasks(args, sched) if "seconds" in sched.rows.get(t, {})]
    busy = sum(sched.rows[t]["seconds"] for t in tasks)
    reported = len(tasks)
    resumed = sum(1 for t in tasks if t in cached)
    found = anomalies(args, sched)
    sizes = ", ".join(str(n) for n in args.sizes)
    alphas = ", ".join(alpha_name(a) for a in args.alphas)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "# Search quality on Landscape-v0",
        "",
        "How close each search method gets to the planted optimum of Landscape-v0 within a budget of "
        "evaluations, with the method's default options (`greedy/best` is greedy with "
        '`improvement="best"`). Each cell is **mean normalised score / optimal rate** over '
        f"K = {args.contexts} contexts: the normalised score is `(score − random_value) / (0 − random_value)` "
        "(0 = the expected reward of a uniform random action, 1 = the planted optimum); the optimal rate is "
        "the fraction of contexts where the returned action is the planted optimum. Contexts are "
        f"`env.reset(seed=s)` for s in 0..{args.contexts - 1}, `instance_seed=0`, default `field` (0.1); the "
        f"search seed is s. n ∈ {{{sizes}}}, alpha ∈ {{{alphas}}} (smaller alpha: more rugged); budgets "
        "10²n, 10³n, 10⁴n evaluations. For these alphas the landscape is a dense Quadratic.",
        "",
        f"- Command: `{command(args)}`",
        f"- Machine: {machine()}",
        f"- Date: {date}; code: {revision} (sources digest {digest})",
        f"- Wall time: {wall / 60:.1f} min for this invocation"
        + (f" ({resumed} runs taken from the cache)" if resumed else "")
        + f"; {reported} reported runs, {busy / 60:.1f} min of search time in total",
        "",
        "## Normalised score / optimal rate",
        "",
        tables,
    ]
    note = skipped_note(args, sched)
    if note:
        lines += [note, ""]
    lines += [
        "## Seconds per decision",
        "",
        "Median seconds of one `search.maximize` call (over every alpha and context), one thread per process, "
        f"{args.workers} processes on a shared machine: timings are noisy. "
        "In parentheses, for a cell that was not run: the pilot's seconds (1 run) or the estimate (≈).",
        "",
        timing_table(args, sched),
        "",
        "## Checks",
        "",
        "Every run is checked for a crash, evaluations above the budget, a reported score that differs from "
        "`env.reward(action)` by more than 1e-9, and an optimal score (≥ −1e-9) without the optimal action or "
        "the reverse. " + ("Found:" if found else "None found."),
        "",
    ]
    if found:
        lines += [f"- {f}" for f in found] + [""]
    kept = previous_observations(args.out, tables_digest)
    lines += [
        f"<!-- quality-tables: {tables_digest} -->",
        OBSERVATIONS,
        "",
        kept if kept else PLACEHOLDER,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: n in {QUICK_SIZES}, 2 contexts unless --contexts is given, a 10 s cap unless "
        f"--max-seconds-per-run is given, output {QUICK_OUT.relative_to(ROOT)} unless --out is given",
    )
    ap.add_argument("--contexts", type=int, default=None, help="contexts K per cell (default 5; 2 with --quick)")
    ap.add_argument("--out", type=Path, default=None, help=f"markdown report (default {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--workers", type=int, default=2, help="worker processes, one thread each (default 2)")
    ap.add_argument(
        "--max-seconds-per-run",
        type=float,
        default=None,
        help="cap on seconds per run: a budget whose pilot run, or whose estimate from the next smaller budget, "
        "takes longer is not run (default 100; 10 with --quick)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="JSONL file of finished runs, appended to and resumed from (default: the output with suffix .jsonl)",
    )
    args = ap.parse_args(argv)
    if args.contexts is None:
        args.contexts = 2 if args.quick else 5
    if args.max_seconds_per_run is None:
        args.max_seconds_per_run = 10.0 if args.quick else 100.0
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    if args.cache is None:
        args.cache = args.out.with_suffix(".jsonl")
    if args.contexts < 1:
        ap.error(f"--contexts must be at least 1, got {args.contexts}")
    if args.workers < 1:
        ap.error(f"--workers must be at least 1, got {args.workers}")
    if not args.max_seconds_per_run > 0:
        ap.error(f"--max-seconds-per-run must be positive, got {args.max_seconds_per_run}")
    args.sizes = QUICK_SIZES if args.quick else SIZES
    args.alphas = ALPHAS
    args.labels = tuple(method_specs())
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    digest, revision = source_digest(), git_revision()
    rows, stale = load_cache(args.cache, digest)
    if stale:
        print(f"ignoring {stale} cached runs of other sources than {digest}", file=sys.stderr)
    cached = set(rows)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    sched = run_all(args, rows, args.cache)
    wall = time.perf_counter() - start
    if source_digest() != digest:
        print("warning: search/ or envs/landscape.py changed during the run", file=sys.stderr)
    write_report(args, sched, wall, cached, digest, revision)
    print(f"wrote {args.out} ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
