"""Why: rows written after an index is built are invisible to it until the table is
optimized; a table that grows past the vector-index threshold and keeps growing must end
every refresh with both indexes covering every row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from prosora_pipelines.lib.index.vector_store import (
    VECTOR_INDEX_MIN_ROWS,
    ArticleIndex,
    chunk_schema,
    refresh_indexes,
)

DIMENSION = 384


def _rows(start: int, count: int, rng: np.random.Generator) -> pa.Table:
    vectors = rng.normal(size=(count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"c{n}" for n in range(start, start + count)]
    columns = {
        "chunk_id": ids,
        "article_id": ids,
        "position": [0] * count,
        "text": [f"topic{n % 13} word{n % 97}" for n in range(start, start + count)],
        "content_hash": ids,
        "title": ["title"] * count,
        "url": ["https://example.org"] * count,
        "source_id": ["source"] * count,
        "tier": ["standard"] * count,
        "credibility": [0.7] * count,
        "domains": [["tech"]] * count,
        "published_at": [datetime(2026, 11, 1, tzinfo=UTC)] * count,
        "model_id": ["m"] * count,
        "model_version": ["v"] * count,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSION),
        "title_vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSION),
    }
    return pa.table(columns, schema=chunk_schema(DIMENSION))


def test_indexes_cover_every_row_as_the_table_grows(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    table = ArticleIndex(tmp_path / "lancedb").open_or_create("chunks", DIMENSION)
    table.add(_rows(0, 1_000, rng))
    small = refresh_indexes(table)
    assert small["FTS"] == {"indexed": 1_000, "unindexed": 0}
    assert not any(name.startswith("Ivf") for name in small)

    table.add(_rows(1_000, VECTOR_INDEX_MIN_ROWS, rng))
    built = refresh_indexes(table)
    assert built["IvfHnswSq"]["unindexed"] == 0 and built["FTS"]["unindexed"] == 0

    table.add(_rows(1_000 + VECTOR_INDEX_MIN_ROWS, 3_000, rng))
    grown = refresh_indexes(table)
    total = 4_000 + VECTOR_INDEX_MIN_ROWS
    assert grown["rows"] == total
    assert grown["FTS"] == {"indexed": total, "unindexed": 0}
    assert grown["IvfHnswSq"] == {"indexed": total, "unindexed": 0}
