"""Screenshots of a suite's TensorBoard views, taken in headless Chromium, as a user would see them.

Serves the suite's ``tb/`` on 127.0.0.1 (a free port), opens each view that ``standin tb`` prints
(``benchmarks.tbviews.views``) and writes one PNG per view::

    .venv/bin/python -m standin.benchmarks.perf.tb_screens runs/quick --out docs/img/tensorboard

Needs a Chromium binary (``apt-get install chromium``; ``--chromium PATH`` for another). Charts are
drawn as SVG (``forceSVG``): headless Chromium has no WebGL here, and TIME SERIES draws with it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from standin.benchmarks.tbviews import tb_root, views

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(logdir: Path, port: int) -> subprocess.Popen:
    """TensorBoard over ``logdir`` on 127.0.0.1:``port``, returned once it lists every run and two
    reloads a second apart give the same tags (every event file read)."""
    expected = {p.parent.relative_to(logdir).as_posix() for p in logdir.rglob("events.out.tfevents.*")}
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                             "127.0.0.1", "--port", str(port), "--load_fast=false", "--reload_interval=1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def get(path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return json.load(r)

    deadline, last = time.monotonic() + 180, None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"TensorBoard exited with code {proc.returncode}")
        try:
            if expected <= set(get("/data/runs")):
                tags = get("/data/plugin/scalars/tags")
                if tags == last:
                    return proc
                last = tags
        except OSError:
            pass
        time.sleep(1.0)
    proc.kill()
    raise RuntimeError("TensorBoard did not list every run within 180 s")


def screenshot(browser: str, url: str, path: Path, size: tuple[int, int], wait_ms: int) -> None:
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"{browser} wrote no screenshot for {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a suite's run directory (e.g. runs/quick) or its tb/")
    parser.add_argument("--out", type=Path, default=Path("docs/img/tensorboard"), help="where the PNGs go")
    parser.add_argument("--filter", default="ppo", help="the run filter of the filtered views (default: ppo)")
    parser.add_argument("--chromium", default=None, help="the browser binary (default: the first found of "
                        + ", ".join(BROWSERS) + ")")
    parser.add_argument("--size", default="1600x1000", help="window size WIDTHxHEIGHT (default: 1600x1000)")
    parser.add_argument("--wait-ms", type=int, default=20000, help="virtual time each page gets to load")
    args = parser.parse_args(argv)
    browser = args.chromium or next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        parser.error("no Chromium found: apt-get install chromium, or pass --chromium PATH")
    logdir = tb_root(args.run_dir)
    if not logdir.is_dir():
        parser.error(f"no TensorBoard directory at {logdir}")
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = serve(logdir, port)
    try:
        for name, _, url in views(f"http://127.0.0.1:{port}", example_filter=args.filter, svg=True):
            path = args.out / f"{name.replace(' ', '-')}.png"
            screenshot(browser, url, path, (width, height), args.wait_ms)
            print(f"{path}  ← {url}")
    finally:
        proc.terminate()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
