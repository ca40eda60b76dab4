"""Test-wide setup: every test writes under its own temporary PROSORA_HOME, never .prosora;
the embedding model and the sample's article index are built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from prosora_pipelines.lib.article_embedding import index_articles
from prosora_pipelines.lib.articles import articles_frame
from prosora_pipelines.lib.embedding import Embedder, load_embedder
from prosora_pipelines.lib.vector_store import ArticleIndex
from prosora_pipelines.settings import get_settings
from prosora_pipelines_tests.support.sample_ingest import sample_articles


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "prosora-home"
    monkeypatch.setenv("PROSORA_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    (tmp_path / "dagster-home").mkdir()
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real packaged model, loaded once for the whole test session."""
    return load_embedder()


@pytest.fixture(scope="session")
def sample_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> tuple[pl.DataFrame, Any]:
    """The bundled sample's canonical articles and their LanceDB chunk table, built once."""
    built, _ = sample_articles()
    frame = articles_frame(built).filter(pl.col("duplicate_of").is_null())
    index = ArticleIndex(tmp_path_factory.mktemp("sample-index") / "lancedb")
    report = index_articles(frame, embedder, index)
    return frame, index.open(report.manifest.table)
