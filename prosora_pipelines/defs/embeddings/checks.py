"""Checks on the article index; the rules themselves are in ``lib.index.checks``."""

from collections.abc import Callable
from typing import Any

import dagster as dg
import polars as pl

from prosora_pipelines.defs.embeddings.assets import article_index
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.articles.checks import CheckOutcome
from prosora_pipelines.lib.index import checks as index_checks
from prosora_pipelines.lib.index.vector_store import IndexManifest, read_manifest
from prosora_pipelines.lib.table_names import ARTICLES_TABLE


def _run(
    storage: ProsoraStorage, rule: Callable[[Any, IndexManifest], CheckOutcome]
) -> dg.AssetCheckResult:
    manifest = read_manifest(storage.tables)
    if manifest is None:
        return dg.AssetCheckResult(passed=False, description="the index manifest is missing")
    table = storage.article_index().open(manifest.table)
    outcome = rule(table, manifest)
    return dg.AssetCheckResult(
        passed=outcome.passed, description=outcome.description, metadata=outcome.metadata
    )


@dg.asset_check(asset=article_index, blocking=True)
def index_model_matches(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Vectors have the model's dimension and all come from the model the manifest names."""
    return _run(storage, index_checks.model_matches)


@dg.asset_check(asset=article_index)
def index_vectors_unit_length(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Every vector is normalized, as cosine ranking assumes."""
    return _run(storage, lambda table, _: index_checks.vectors_unit_length(table))


@dg.asset_check(asset=article_index)
def index_chunks_match_articles(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Every chunk belongs to a live article and every live article has chunks."""
    frame = storage.tables.read_table(ARTICLES_TABLE)
    live = set() if frame is None else set(frame.filter(pl.col("duplicate_of").is_null())["id"])
    return _run(storage, lambda table, _: index_checks.chunks_match_articles(table, live))


@dg.asset_check(asset=article_index)
def index_covers_table(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """The full-text and vector indexes cover every row (no rows waiting for optimize)."""
    return _run(storage, lambda table, _: index_checks.indexes_cover_table(table))
