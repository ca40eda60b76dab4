"""Why: nothing ran the benchmarks between changes, so one broke unnoticed (``embed.py``
built its own article rows and missed a column the library had added). Each benchmark script
runs here at its smallest size (``--quick``) in its own process, as ``make bench`` runs it;
the check is only that it completes and prints its figures, never what they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO_ROOT / "benchmarks"
SCRIPTS = {
    # script: (extra arguments, a line of its figures)
    "ingest.py": ((), "second all-304 pass"),
    "embed.py": ((), "(b) index_articles into an empty LanceDB"),
    "search.py": ((), "search_articles VECTOR p95"),
    "query.py": ((), "query, encoder cached"),
    "parser_agreement.py": ((), "agree with feedparser"),
    "scale.py": ((), "ingest via webserver → queue → daemon (PostgreSQL)"),
    "learning.py": ((), "pairs/s"),
    "retrieval.py": ((), "hybrid nDCG@10 ≥ plain dense"),
    "draft_relevance.py": ((), "target citation precision"),
    # Its own limit is load plus 150 s, set for an idle machine; a smoke run may be slower.
    "api_load.py": (("--time-limit", "600"), "whole run"),
}

pytestmark = pytest.mark.integration


def test_every_benchmark_script_has_a_smoke_run() -> None:
    scripts = {path.name for path in BENCHMARKS.glob("*.py") if "def main(" in path.read_text()}
    assert scripts == set(SCRIPTS)


def test_no_benchmark_imports_the_test_suite() -> None:
    """A benchmark measures the product as shipped; the tests' helpers are not part of it
    (their data, such as the relevance judgments, is read as files)."""
    importing = [
        path.name
        for path in sorted(BENCHMARKS.glob("*.py"))
        if re.search(
            r"^\s*(from|import)\s+prosora_pipelines_tests\b",
            path.read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    ]
    assert importing == []


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_completes_and_prints_its_figures(script: str, tmp_path: Path) -> None:
    arguments, figures = SCRIPTS[script]
    env = {
        k: v
        for k, v in os.environ.items()
        if k == "PROSORA_SHARED_DIR" or not k.startswith(("PROSORA_", "DAGSTER_"))
    }
    env.update(PYTHONPATH=str(REPO_ROOT), TMPDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *arguments],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert figures in done.stdout
