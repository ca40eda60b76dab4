"""Refreshing the stored trends: topics and megatrends from the articles and their vectors.

The article vectors come from the index the manifest names; a megatrend's seed text must be
embedded by the model that filled that index, or the two would not be comparable. The model
is loaded only when some megatrend has a seed text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.vector_store import ArticleIndex, IndexManifest, read_manifest
from prosora_pipelines.lib.sources.catalog import Megatrend
from prosora_pipelines.lib.table_names import ARTICLES_TABLE, MEGATRENDS_TABLE, TREND_TOPICS_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore
from prosora_pipelines.lib.trends.topics import (
    TrendReport,
    Vector,
    article_vectors,
    compute_trends,
    megatrends_frame,
    topics_frame,
    window_end,
)


class SeedModelMismatchError(ValueError):
    """The embedding model in use is not the one whose vectors the index holds."""


@dataclass(frozen=True)
class TrendsRefresh:
    """The trends computed and where the topics went."""

    report: TrendReport
    topics: pl.DataFrame
    topics_path: str
    index_table: str
    """The index table whose vectors were clustered."""


def _seed_vectors(
    megatrends: Sequence[Megatrend], load_embedder: Callable[[], Embedder], manifest: IndexManifest
) -> dict[str, Vector]:
    seeded = [m for m in megatrends if m.seed_text]
    if not seeded:
        return {}
    embedder = load_embedder()
    if (embedder.info.model_id, embedder.info.version) != (
        manifest.model_id,
        manifest.model_version,
    ):
        raise SeedModelMismatchError(
            f"the embedding model is {embedder.info.model_id} ({embedder.info.version}) but the "
            f"index holds {manifest.model_id} ({manifest.model_version}) vectors; "
            "materialize article_index first so seed texts and articles share one model"
        )
    vectors = embedder.encode([m.seed_text or "" for m in seeded])
    return {m.name: vector for m, vector in zip(seeded, vectors, strict=True)}


def refresh_trends(
    tables: TableStore,
    index: ArticleIndex,
    megatrends: Sequence[Megatrend],
    *,
    load_embedder: Callable[[], Embedder],
    now: datetime,
) -> TrendsRefresh:
    """Compute the trends of the stored articles and store the topic and megatrend tables.

    ``now`` only ends the recent window when no article has a date. Raises
    ``NotMaterializedError`` before the articles and their index exist, and
    ``SeedModelMismatchError`` when seed texts would be embedded by another model than the
    index's.
    """
    articles = tables.read_table(ARTICLES_TABLE)
    manifest = read_manifest(tables)
    if articles is None or manifest is None:
        raise NotMaterializedError("articles and article_index must be materialized first")
    vectors = article_vectors(index.open(manifest.table))
    report = compute_trends(
        articles,
        vectors,
        megatrends,
        end=window_end(articles, fallback=now),
        seed_vectors=_seed_vectors(megatrends, load_embedder, manifest),
    )
    topics = topics_frame(report)
    topics_path = tables.write_table(TREND_TOPICS_TABLE, topics)
    tables.write_table(MEGATRENDS_TABLE, megatrends_frame(report))
    return TrendsRefresh(
        report=report, topics=topics, topics_path=topics_path, index_table=manifest.table
    )
