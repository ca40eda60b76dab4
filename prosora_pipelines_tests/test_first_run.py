"""Why: a first-time user runs the installed ``prosora`` command, not the Makefile. Without
``DAGSTER_HOME`` the demo failed with Dagster's "DAGSTER_HOME is not set" essay, and every
run printed other libraries' noise: a "Loading weights" bar per model load, a "Batches" bar,
and LanceDB's native warnings in Rust's log format ("KMeans: more than 10% of clusters are
empty"). Run as a user would, in fresh processes, the commands must work and print only
their own output (their own progress bar included)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prosora_pipelines.settings import DAGSTER_INSTANCE_CONFIG

REPO_ROOT = Path(__file__).resolve().parents[1]
NOISE = [
    "Loading weights",
    "Batches",
    "KMeans",
    "DAGSTER_HOME",
    "Warning",
    "it/s]",
    re.compile(r"\[\d{4}-\d\d-\d\dT[\d:.]+Z +(WARN|INFO|ERROR|DEBUG)"),
]

pytestmark = pytest.mark.integration


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DAGSTER_HOME", "LANCEDB_LOG"}}
    env.update(PROSORA_HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    return env


def _prosora(home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from prosora_pipelines.cli import app; app()", *arguments],
        capture_output=True,
        text=True,
        env=_environment(home),
        cwd=home.parent,
        timeout=600,
    )


def _noise_in(output: str) -> list[str]:
    found = []
    for pattern in NOISE:
        if isinstance(pattern, str):
            found += [pattern] if pattern in output else []
        else:
            found += pattern.findall(output)
    return found


def test_demo_then_query_and_search_work_without_dagster_home_and_print_no_noise(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    demo = _prosora(home, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert _noise_in(demo.stdout + demo.stderr) == []
    assert "16/16" in demo.stdout  # the command's own progress bar stays
    instance = home / "dagster" / "dagster.yaml"
    assert instance.read_text(encoding="utf-8") == DAGSTER_INSTANCE_CONFIG.read_text("utf-8")
    assert list((home / "dagster").glob(".dagster.yaml.*")) == []

    query = _prosora(home, "query", "stablecoin reserve rules", "--json")
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout)["status"] == "completed"
    search = _prosora(home, "search", "stablecoin reserve rules", "--json")
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)["hits"]
    assert hits, search.stdout
    assert all(hit["title"] and hit["url"] and hit["score"] > 0 for hit in hits)
    for done in (query, search):
        assert _noise_in(done.stdout + done.stderr) == []
        assert done.stderr == ""


BUILD_A_VECTOR_INDEX = """
import sys
import numpy as np
from prosora_pipelines.lib.index.embedding import EmbeddingModelInfo
from prosora_pipelines.lib.index import vector_store as vs

model = EmbeddingModelInfo("m", "v1", 8, 256, "cpu", "fp32")
rows = 4 * vs.ROWS_PER_PARTITION
# Four partitions over three distinct vectors: some k-means clusters come out empty.
vectors = np.eye(8, dtype=np.float32)[np.arange(rows) % 3]
chunks = [
    {"chunk_id": f"c{n}", "article_id": f"a{n}", "position": 0, "text": f"text {n % 7}",
     "content_hash": "h", "title": "t", "url": "https://example.com", "source_id": "s",
     "tier": "standard", "credibility": 0.5, "domains": [], "published_at": None}
    for n in range(rows)
]
table = vs.ArticleIndex(sys.argv[1]).open_or_create("chunks", model.dimension)
vs.upsert_chunks(table, vs.chunk_rows(chunks, vectors, vectors, model))
print(sorted(vs.refresh_indexes(table)))
"""


def test_building_a_vector_index_over_alike_vectors_prints_no_native_warnings(
    tmp_path: Path,
) -> None:
    built = subprocess.run(
        [sys.executable, "-c", BUILD_A_VECTOR_INDEX, str(tmp_path / "lancedb")],
        capture_output=True,
        text=True,
        env=_environment(tmp_path / "home"),
        timeout=300,
        check=True,
    )
    assert "IvfHnswSq" in built.stdout
    assert built.stderr == ""
