"""standin.benchmarks: suites, the runner, reports and the command line.

Owns: suite files and their parsing (suites/, suite.py); one trial's run and evaluation (trial.py);
the results file (records.py); the runner (runner.py) and its two backends with one interface, a
local process pool (local_backend.py) and Ray (ray_backend.py), and the run directory's lock
(lock.py); failure rates at scale (safety.py); reports (report.py, figures.py, stats.py, cells.py,
report_html.py); TensorBoard (tblog.py, tbviews.py); the ``standin`` command (cli.py); and the
speed benchmarks (perf/).

May import: standin.search, standin.envs and standin.agents.
"""
