"""The TensorBoard views that answer standin's questions, as URLs (``standin tb`` prints them).

A suite's ``tb/`` holds one run per trial, ``<env label>/<agent label>/seed<k>``, and one per agent
under ``_sweep/``. With a hundred runs TensorBoard's SCALARS and CUSTOM SCALARS tabs select none by
default (they select the runs that match the run filter only when at most 40 do), so each view
comes with a filter in its URL: ``regexInput`` (those two tabs, in the hash) and ``runFilter``
(TIME SERIES, a query parameter). Smoothing is off in every view: the sweep's x axis is log2 |A|,
and the evaluation curves have five points.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

SWEEP_DIR = "_sweep"
CURVE_TAGS = "^(eval/(normalized_return|return|optimal_rate)|train/episodic_return)$"
"""The tag filter of the filtered views: the evaluation curves and the training return."""


def tb_root(path: Path) -> Path:
    """The TensorBoard directory of ``path``: a run directory's ``tb/``, or ``path`` itself."""
    return path / "tb" if (path / "tb").is_dir() else path


def sweep_dirs(root: Path) -> list[Path]:
    """The sweep directories under a TensorBoard directory: its own, or those of the suites below it."""
    own = root / SWEEP_DIR
    return [own] if own.is_dir() else sorted(p for p in root.glob(f"*/tb/{SWEEP_DIR}") if p.is_dir())


def views(base: str, *, sweep_only: bool = False, example_filter: str = "ppo", svg: bool = False) -> list[tuple]:
    """``(name, what it shows, URL)`` for each view of a server at ``base`` (e.g. ``http://127.0.0.1:6006``).

    ``sweep_only``: the server holds only sweep runs (``standin tb --sweep``). ``svg``: draw charts
    as SVG (``forceSVG``), for browsers without WebGL such as headless Chromium.
    """
    query = "smoothing=0" + ("&forceSVG=true" if svg else "")
    sweep_filter = "" if sweep_only else f"&regexInput={quote(SWEEP_DIR)}"
    out = [("sweep", "each agent against log2 |A|, one chart per env family and metric",
            f"{base}/?{query}#custom_scalars{sweep_filter}&_smoothingWeight=0")]
    if not sweep_only:
        f, tags = quote(example_filter), quote(CURVE_TAGS, safe="")
        out += [
            ("time series", "every run's training and evaluation curves against env steps",
             f"{base}/?{query}#timeseries"),
            ("scalars", f"the return curves of the runs whose name matches a filter (here {example_filter!r}; "
                        "edit it in the page)",
             f"{base}/?{query}#scalars&regexInput={f}&tagFilter={tags}&_smoothingWeight=0"),
            ("one filter in time series", f"the same runs in TIME SERIES ({example_filter!r})",
             f"{base}/?{query}&runFilter={f}#timeseries"),
            ("hparams", "every trial's hyperparameters and final metrics, as a table and parallel coordinates",
             f"{base}/?{query}#hparams"),
        ]
    return out
