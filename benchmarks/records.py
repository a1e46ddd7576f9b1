"""The results file: one JSON record per line, appended by the one process that writes a run.

:func:`append_record` writes a record with one ``write`` plus ``fsync``, so a kill at any moment
leaves every finished trial on disk and at most one partial last line, which :func:`read_records`
cuts off. :func:`load_results` reads a file without changing it (reports read runs this way).
:func:`provenance` is what every record says about the code and the machine.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
from pathlib import Path

import numpy as np


def load_results(path) -> list[dict]:
    """The records of a ``results.jsonl`` file, in file order.

    Blank lines are skipped, and so is a truncated or malformed *last* line (a killed run may leave
    one). A malformed line anywhere else is corruption: ValueError naming the file and line number.
    A missing or unreadable file is a ValueError naming the path.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"results file not found: {path}") from None
    except OSError as e:
        raise ValueError(f"cannot read results file {path}: {e.strerror or e}") from None
    lines = [(number, raw) for number, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    records = []
    for i, (number, raw) in enumerate(lines):
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if i == len(lines) - 1:
                break  # a partial last line left by a killed run
            raise ValueError(f"{path}, line {number}: malformed record ({e})") from None
        records.append(record)
    return records


def read_records(path: Path) -> list[dict]:
    """Records in ``path``. A partial last line (a write cut short by a kill) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1  # every record we write ends with a newline
    if complete < len(data):
        with open(path, "r+b") as f:
            f.truncate(complete)
    return load_results(path)


def append_record(path: Path, record: dict) -> None:
    """Append one record as one line, atomically with respect to a kill (single write + fsync)."""
    line = (json.dumps(record, default=_json_default) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


@functools.lru_cache(maxsize=1)
def cpu_model() -> str | None:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def provenance() -> dict:
    """standin version, git commit, package versions and machine, recorded with every trial."""
    def version(pkg):
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    cpu = cpu_model()
    return {
        "standin": version("standin"),
        "git_commit": commit,
        "python": platform.python_version(),
        "packages": {p: version(p) for p in ("numpy", "numba", "torch", "gymnasium", "tensorboard")},
        "machine": {"cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform()},
    }
