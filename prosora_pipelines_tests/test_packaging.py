"""Why: installing printed three setuptools "Package would be ignored" warnings (data-only
folders outside ``packages``), noise on a first install and a hint that files could be left
out of a wheel. A wheel built from the sources must build quietly and carry every data file
the package reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def test_the_wheel_builds_quietly_with_its_data_files(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "prosora_pipelines",
        source / "prosora_pipelines",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*pip_wheel, "-v", "--wheel-dir", str(tmp_path / "wheel"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "would be ignored" not in built.stdout + built.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO_ROOT / "prosora_pipelines"
    data_files = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in package.rglob("*")
        # Python files too: a folder of modules without __init__.py (such as the app's
        # pages) is no package, and setuptools leaves it out silently.
        if path.is_file() and path.suffix in {".py", ".yaml", ".xml", ".html", ".mako"}
    ]
    assert data_files
    assert sorted(set(data_files) - names) == []
