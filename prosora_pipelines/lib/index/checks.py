"""Data-quality rules for the article index, as plain functions; the Dagster checks wrap them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from prosora_pipelines.lib.articles.checks import CheckOutcome
from prosora_pipelines.lib.index.vector_store import IndexManifest, index_coverage

UNIT_TOLERANCE = 1e-3


def _column(table: Any, names: list[str]) -> pa.Table:
    rows = table.count_rows()
    if rows == 0:
        return pa.table({name: [] for name in names})
    result: pa.Table = table.search().select(names).limit(rows).to_arrow()
    return result


def model_matches(table: Any, manifest: IndexManifest) -> CheckOutcome:
    """The vector column has the model's dimension and every row names the manifest's model."""
    dimension = table.schema.field("vector").type.list_size
    models = _column(table, ["model_id", "model_version"])
    pairs = {
        tuple(pair)
        for pair in zip(*(models.column(n).to_pylist() for n in models.column_names), strict=True)
    }
    expected = {(manifest.model_id, manifest.model_version)}
    passed = dimension == manifest.dimension and pairs <= expected
    return CheckOutcome(
        passed=passed,
        description=(
            f"dimension {dimension} (model {manifest.dimension}); models in rows: {sorted(pairs)}"
        ),
        metadata={"dimension": dimension, "expected_dimension": manifest.dimension},
    )


def vectors_unit_length(table: Any) -> CheckOutcome:
    vectors = _column(table, ["vector"]).column("vector")
    if len(vectors) == 0:
        return CheckOutcome(True, "no vectors yet", {"rows": 0})
    matrix = np.asarray(vectors.combine_chunks().flatten(), dtype=np.float32).reshape(
        len(vectors), -1
    )
    norms = np.linalg.norm(matrix, axis=1)
    off = int(np.sum(np.abs(norms - 1.0) > UNIT_TOLERANCE))
    return CheckOutcome(
        passed=off == 0,
        description=f"{off} of {len(norms)} vectors are not unit length (±{UNIT_TOLERANCE})",
        metadata={"min_norm": float(norms.min()), "max_norm": float(norms.max())},
    )


def chunks_match_articles(table: Any, live_article_ids: set[str]) -> CheckOutcome:
    """Every chunk belongs to a live article and every live article has chunks."""
    indexed = set(_column(table, ["article_id"]).column("article_id").to_pylist())
    orphans = sorted(indexed - live_article_ids)
    missing = sorted(live_article_ids - indexed)
    return CheckOutcome(
        passed=not orphans and not missing,
        description=(
            f"{len(orphans)} articles indexed but gone, {len(missing)} live articles without chunks"
        ),
        metadata={"orphan_article_ids": orphans[:20], "unindexed_article_ids": missing[:20]},
    )


def indexes_cover_table(table: Any) -> CheckOutcome:
    coverage = index_coverage(table)
    rows = coverage["rows"]
    behind = {
        name: stats["unindexed"]
        for name, stats in coverage.items()
        if isinstance(stats, dict) and stats["unindexed"]
    }
    has_fts = "FTS" in coverage
    passed = not behind and (has_fts or rows == 0)
    return CheckOutcome(
        passed=passed,
        description=f"{rows} rows; unindexed rows per index: {behind or 'none'}"
        + ("" if has_fts or rows == 0 else "; full-text index missing"),
        metadata={"coverage": coverage},
    )
