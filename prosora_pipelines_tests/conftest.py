"""Test-wide setup: every test writes under its own temporary PROSORA_HOME, never .prosora;
the embedding model and the sample's article index are built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from prosora_pipelines.lib.articles.building import articles_frame
from prosora_pipelines.lib.index.article_embedding import index_articles
from prosora_pipelines.lib.index.embedding import Embedder, load_embedder
from prosora_pipelines.lib.index.vector_store import ArticleIndex, CurrentIndex, write_manifest
from prosora_pipelines.lib.sample_corpus import sample_articles
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings

pytest_plugins = [
    "prosora_pipelines_tests.support.databases",
    "prosora_pipelines_tests.support.object_store_server",
    "prosora_pipelines_tests.support.celery_workers",
    "prosora_pipelines_tests.support.materialized",
    "prosora_pipelines_tests.support.real_feeds",
]


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
def sample_frame() -> pl.DataFrame:
    """The bundled sample's canonical articles, ingested once per session."""
    built, _ = sample_articles()
    return articles_frame(built).filter(pl.col("duplicate_of").is_null())


@pytest.fixture(scope="session")
def sample_index_home(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, sample_frame: pl.DataFrame
) -> Path:
    """A PROSORA_HOME holding the bundled sample's article index and its manifest, built
    once per session; tests read it and never write to it."""
    home = tmp_path_factory.mktemp("sample-home")
    report = index_articles(sample_frame, embedder, ArticleIndex(home / "lancedb"))
    write_manifest(TableStore(home), report.manifest)
    return home


@pytest.fixture(scope="session")
def sample_index(sample_frame: pl.DataFrame, sample_index_home: Path) -> tuple[pl.DataFrame, Any]:
    """The bundled sample's canonical articles and their LanceDB chunk table."""
    table, _ = CurrentIndex(sample_index_home).table()
    return sample_frame, table
