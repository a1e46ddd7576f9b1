"""The installed distribution: one import name, ``standin``, and its console script.

The repository keeps ``envs/``, ``agents/``, ``search/`` and ``benchmarks/`` at its top; they install
as ``standin.envs``, ``standin.agents``, ``standin.search`` and ``standin.benchmarks``, so nothing
named ``envs`` or ``agents`` (names other distributions use too) lands on a user's path.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("envs", "agents", "search", "benchmarks")


def _setuptools_ok() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 68


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout installed (no dependencies); its
    site-packages."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)]
    if _setuptools_ok():  # build with this environment's setuptools; else pip fetches the backend, as setup does
        build.append("--no-build-isolation")
    subprocess.run(build, check=True, cwd=tmp)
    wheel = next((tmp / "dist").glob("standin-*.whl"))
    env = tmp / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def test_the_wheel_puts_only_standin_and_its_console_script_on_the_path(installed):
    top = {p.name for p in installed.iterdir()} - {"__pycache__", "_distutils_hack", "distutils-precedence.pth"}
    ours = {name for name in top if not name.startswith(("pip", "setuptools", "pkg_resources"))}
    assert {name for name in ours if not name.endswith(".dist-info")} == {"standin"}
    assert not any((installed / name).exists() for name in FOLDERS)
    for folder in FOLDERS:
        assert (installed / "standin" / folder / "__init__.py").is_file()
    assert not (installed / "standin" / "__init__.py").exists()  # a namespace: its folders are the packages
    assert sorted(p.name for p in (installed / "standin" / "benchmarks" / "suites").glob("*.toml"))
    dist = next(installed.glob("standin-*.dist-info"))
    points = configparser.ConfigParser()
    points.read(dist / "entry_points.txt")
    assert dict(points["console_scripts"]) == {"standin": "standin.benchmarks.cli:entry"}
    assert (installed.parents[2] / "bin" / "standin").is_file()
