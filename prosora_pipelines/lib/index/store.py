"""Refreshing the article index from the stored articles table.

Only canonical articles are indexed: a near-duplicate points at its canonical copy, which
carries the story. The manifest readers follow is written only after the model's table is
complete, so a reader switches to a new model's table only once it can answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from prosora_pipelines.lib.index.article_embedding import IndexingReport, index_articles
from prosora_pipelines.lib.index.embedding import Embedder, EmbeddingModelInfo
from prosora_pipelines.lib.index.vector_store import ArticleIndex, write_manifest
from prosora_pipelines.lib.table_names import ARTICLES_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore


@dataclass(frozen=True)
class ArticleIndexRefresh:
    """What indexing did, and the chunk table readers now use."""

    report: IndexingReport
    model: EmbeddingModelInfo
    table: Any
    """The LanceDB chunk table the manifest names."""


def refresh_article_index(
    tables: TableStore,
    index: ArticleIndex,
    *,
    load_embedder: Callable[[], Embedder],
    batch_size: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> ArticleIndexRefresh:
    """Bring the embedding model's chunk table in line with the canonical articles and point
    the manifest at it. Raises ``NotMaterializedError`` before the articles table exists,
    without loading the model."""
    frame = tables.read_table(ARTICLES_TABLE)
    if frame is None:
        raise NotMaterializedError("articles has not been materialized yet")
    canonical = frame.filter(pl.col("duplicate_of").is_null())
    embedder = load_embedder()
    report = index_articles(
        canonical, embedder, index, batch_size=batch_size, on_progress=on_progress
    )
    write_manifest(tables, report.manifest)
    return ArticleIndexRefresh(
        report=report, model=embedder.info, table=index.open(report.manifest.table)
    )
