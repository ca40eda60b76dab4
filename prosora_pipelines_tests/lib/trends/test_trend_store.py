"""Why: trends compare seed texts with article vectors, which only means something when one
model made both; the model is heavy, so it must load only when a megatrend has a seed text;
and a run before the articles and their index exist must say so, not fail obscurely."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.vector_store import ArticleIndex, read_manifest, write_manifest
from prosora_pipelines.lib.sources.catalog import Megatrend
from prosora_pipelines.lib.table_names import ARTICLES_TABLE, MEGATRENDS_TABLE, TREND_TOPICS_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore
from prosora_pipelines.lib.trends.store import SeedModelMismatchError, refresh_trends

NOW = datetime(2026, 11, 1, tzinfo=UTC)
KEYWORDS_ONLY = (Megatrend(name="AI regulation", keywords=("AI Act",)),)
SEEDED = (Megatrend(name="Tooling", seed_text="agents and their tools"),)


@pytest.fixture
def tables(tmp_path: Path, sample_frame: pl.DataFrame, sample_index_home: Path) -> TableStore:
    """A home of its own holding the sample's articles and the manifest of its index."""
    tables = TableStore(tmp_path / "home")
    tables.write_table(ARTICLES_TABLE, sample_frame)
    manifest = read_manifest(TableStore(sample_index_home))
    assert manifest is not None
    write_manifest(tables, manifest)
    return tables


@pytest.fixture
def index(sample_index_home: Path) -> ArticleIndex:
    return ArticleIndex(sample_index_home / "lancedb")


def _never_loaded() -> Embedder:
    raise AssertionError("the embedding model was loaded")


def test_keyword_megatrends_never_load_the_model_and_both_tables_are_stored(
    tables: TableStore, index: ArticleIndex
) -> None:
    refresh = refresh_trends(tables, index, KEYWORDS_ONLY, load_embedder=_never_loaded, now=NOW)
    assert refresh.topics.height == len(refresh.report.topics) > 0
    stored = tables.read_table(TREND_TOPICS_TABLE)
    assert stored is not None and stored.equals(refresh.topics)
    megatrends = tables.read_table(MEGATRENDS_TABLE)
    assert megatrends is not None and megatrends["name"].to_list() == ["AI regulation"]


def test_seed_texts_are_embedded_by_the_index_model_only(
    tables: TableStore, index: ArticleIndex, embedder: Embedder
) -> None:
    seeded = refresh_trends(tables, index, SEEDED, load_embedder=lambda: embedder, now=NOW)
    assert [m.name for m in seeded.report.megatrends] == ["Tooling"]

    class OtherModel:
        info = replace(embedder.info, version="another-version")

    with pytest.raises(SeedModelMismatchError, match="materialize article_index first"):
        refresh_trends(tables, index, SEEDED, load_embedder=OtherModel, now=NOW)


def test_before_the_articles_and_index_exist_it_says_so(
    tmp_path: Path, index: ArticleIndex
) -> None:
    empty = TableStore(tmp_path / "empty")
    with pytest.raises(NotMaterializedError, match="must be materialized first"):
        refresh_trends(empty, index, SEEDED, load_embedder=_never_loaded, now=NOW)
    assert empty.read_table(TREND_TOPICS_TABLE) is None
