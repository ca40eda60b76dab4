"""Why: only canonical articles belong in the index (a near-duplicate's story is its
canonical copy's), readers follow the manifest so it must name the table just filled, and a
run before the articles exist must say so without spending time loading the model."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.store import refresh_article_index
from prosora_pipelines.lib.index.vector_store import ArticleIndex, read_manifest
from prosora_pipelines.lib.table_names import ARTICLES_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore


def _never_loaded() -> Embedder:
    raise AssertionError("the embedding model was loaded")


def test_canonical_articles_are_indexed_and_the_manifest_names_their_table(
    tmp_path: Path, sample_frame: pl.DataFrame, embedder: Embedder
) -> None:
    canonical = sample_frame.head(3)
    duplicate = canonical.head(1).with_columns(
        pl.lit("a-near-duplicate").alias("id"), pl.lit(canonical["id"][0]).alias("duplicate_of")
    )
    tables = TableStore(tmp_path)
    tables.write_table(ARTICLES_TABLE, pl.concat([canonical, duplicate]))

    refresh = refresh_article_index(
        tables, ArticleIndex(tmp_path / "lancedb"), load_embedder=lambda: embedder, batch_size=8
    )

    assert refresh.report.articles == 3
    assert refresh.model == embedder.info
    assert read_manifest(tables) == refresh.report.manifest
    assert refresh.table.count_rows() == refresh.report.chunks
    indexed = set(refresh.table.to_arrow().column("article_id").to_pylist())
    assert indexed == set(canonical["id"])


def test_before_the_articles_exist_it_says_so_without_loading_the_model(tmp_path: Path) -> None:
    tables = TableStore(tmp_path)
    with pytest.raises(NotMaterializedError, match="articles has not been materialized"):
        refresh_article_index(
            tables, ArticleIndex(tmp_path / "lancedb"), load_embedder=_never_loaded, batch_size=8
        )
    assert read_manifest(tables) is None
