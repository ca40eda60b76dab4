"""The article index in LanceDB: one row per chunk, with vector, text and filter columns.

Each embedding model version has its own table, so vectors of two models never mix; a
small manifest names the table readers use, and it is switched only once a new table is
complete. Writes are ``merge_insert`` keyed by chunk id, so a re-run or a crashed run
neither duplicates nor loses rows. Rows written after an index was built are not indexed
until the table is optimized, so every write ends with :func:`refresh_indexes`.

Vector index choice: IVF_HNSW_SQ (HNSW graphs inside IVF partitions, 8-bit scalar
quantized vectors). HNSW keeps recall high without a refine pass, where IVF_PQ on 384
dimensions can return well under half of the true top 10; SQ keeps memory at a quarter of
float32. Below ``VECTOR_INDEX_MIN_ROWS`` rows no vector index is built: an exact scan is
fast at that size and has perfect recall.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from prosora_pipelines.lib.index.embedding import EmbeddingModelInfo
from prosora_pipelines.lib.storage_location import StorageLocation, as_location
from prosora_pipelines.lib.table_names import MANIFEST_DOCUMENT
from prosora_pipelines.lib.table_store import TableStore

if TYPE_CHECKING:
    from lancedb.table import Table

# LanceDB's native code logs warnings straight to stderr in Rust's format (for example
# "KMeans: more than 10% of clusters are empty" for each partition of an index over many
# alike vectors): not for a user's terminal. LANCEDB_LOG=warn shows them again; it is read
# once, when lancedb is first imported, which every import of it here follows.
os.environ.setdefault("LANCEDB_LOG", "error")

VECTOR_INDEX_MIN_ROWS = 5_000
ROWS_PER_PARTITION = 4_096
DELETE_BATCH = 500
OPTIMIZE_ATTEMPTS = 3
READER_CONSISTENCY = timedelta(seconds=5)


def chunk_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            ("chunk_id", pa.string()),
            ("article_id", pa.string()),
            ("position", pa.int32()),
            ("text", pa.string()),
            ("content_hash", pa.string()),
            ("title", pa.string()),
            ("url", pa.string()),
            ("source_id", pa.string()),
            ("tier", pa.string()),
            ("credibility", pa.float32()),
            ("domains", pa.list_(pa.string())),
            ("published_at", pa.timestamp("us", tz="UTC")),
            ("model_id", pa.string()),
            ("model_version", pa.string()),
            ("vector", pa.list_(pa.float32(), dimension)),
            # The article title's own vector, repeated on each of its chunks, so a vector
            # search scores the title beside the passage without a second read.
            ("title_vector", pa.list_(pa.float32(), dimension)),
        ]
    )


CHUNK_LAYOUT = 2
"""Raised when the chunk table's columns change, so the next index run fills a new table
and readers switch to it only once it is complete (``title_vector`` came with layout 2)."""


def table_name_for(model: EmbeddingModelInfo) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.model_id.lower()).strip("_")[-40:]
    return f"chunks_{slug}_{model.version}_{model.dimension}_l{CHUNK_LAYOUT}"


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class IndexManifest:
    """Which table readers use, and the model that filled it."""

    table: str
    model_id: str
    model_version: str
    dimension: int
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "dimension": self.dimension,
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IndexManifest:
        return cls(
            table=raw["table"],
            model_id=raw["model_id"],
            model_version=raw["model_version"],
            dimension=int(raw["dimension"]),
            updated_at=datetime.fromisoformat(raw["updated_at"]),
        )


def read_manifest(tables: TableStore) -> IndexManifest | None:
    raw = tables.read_document(MANIFEST_DOCUMENT)
    return IndexManifest.from_json(raw) if raw is not None else None


def write_manifest(tables: TableStore, manifest: IndexManifest) -> None:
    """Point readers at ``manifest.table``; called only once that table is complete."""
    tables.write_document(MANIFEST_DOCUMENT, manifest.to_json())


class IndexUnavailableError(LookupError):
    """There is no article index readers can use: none was built yet, or the current one was
    built by another embedding model. A ``LookupError`` for callers that only say "not
    found"; its own type, so a ``KeyError`` from a bug is never mistaken for it."""


def current_manifest(tables: TableStore) -> IndexManifest:
    """The manifest readers follow; ``IndexUnavailableError`` before the first index run, or
    when it names a table of an older layout (which lacks columns search reads)."""
    manifest = read_manifest(tables)
    if manifest is None:
        raise IndexUnavailableError(
            f"no article index under {tables.location.root}: materialize article_index first"
        )
    if not manifest.table.endswith(f"_l{CHUNK_LAYOUT}"):
        raise IndexUnavailableError(
            f"the article index under {tables.location.root} was built before title vectors "
            "were indexed: materialize article_index again"
        )
    return manifest


def open_current_table(place: Path | StorageLocation) -> Any:
    """The chunk table readers use now; ``IndexUnavailableError`` before the first index run."""
    location = as_location(place)
    manifest = current_manifest(TableStore(location))
    return ArticleIndex.at(location).open(manifest.table)


class CurrentIndex:
    """The table readers use, for a long-lived reader (the query engine, the API).

    Each call re-reads the small manifest and reopens only when it names another table (a
    new embedding model); writes to the same table become visible within
    ``READER_CONSISTENCY`` through LanceDB's read consistency interval.
    """

    def __init__(self, place: Path | StorageLocation) -> None:
        self._tables = TableStore(place)
        self._index = ArticleIndex.at(self._tables.location, read_consistency=READER_CONSISTENCY)
        self._open: tuple[str, Table] | None = None

    def table(self) -> tuple[Table, IndexManifest]:
        """The current table and its manifest; ``IndexUnavailableError`` before the first
        index run."""
        manifest = current_manifest(self._tables)
        if self._open is None or self._open[0] != manifest.table:
            self._open = (manifest.table, self._index.open(manifest.table))
        return self._open[1], manifest


class ArticleIndex:
    """A LanceDB database folder holding chunk tables.

    On S3 concurrent writers (two run workers, a backfill beside a schedule) are safe
    without a lock service: lance commits each table version with a create-only PUT
    (``If-None-Match: *``), so of two writers of one version the second is refused and
    retries on top of the first. Stores that ignore that header need LanceDB's DynamoDB
    commit store instead (an ``s3+ddb://`` URI).
    """

    def __init__(
        self,
        uri: str | Path,
        read_consistency: timedelta | None = None,
        storage_options: dict[str, str] | None = None,
    ) -> None:
        import lancedb

        self.uri = str(uri)
        self._db = lancedb.connect(
            self.uri,
            read_consistency_interval=read_consistency,
            storage_options=storage_options or None,
        )

    @classmethod
    def at(
        cls, place: Path | StorageLocation, read_consistency: timedelta | None = None
    ) -> ArticleIndex:
        """The index folder of ``place`` (under the home, or under the storage URI)."""
        location = as_location(place)
        return cls(location.lancedb_uri, read_consistency, location.lancedb_options())

    def table_names(self) -> list[str]:
        listed = self._db.list_tables()
        names = getattr(listed, "tables", listed)
        return list(names)

    def open(self, name: str) -> Table:
        return self._db.open_table(name)

    def open_or_create(self, name: str, dimension: int) -> Any:
        if name in self.table_names():
            return self.open(name)
        return self._db.create_table(name, schema=chunk_schema(dimension))

    def drop(self, name: str) -> None:
        if name in self.table_names():
            self._db.drop_table(name)


def async_view(table: Any) -> Any:
    """``table``'s asynchronous view (LanceDB's ``AsyncTable``), for :func:`read_together`."""
    # lancedb 0.40's LanceTable keeps its AsyncTable here and offers no public accessor;
    # setup.py pins lancedb below 0.41 and the search tests go through this line.
    return table._table


def read_together(queries: Sequence[Any]) -> list[pa.Table]:
    """The results of ``queries`` (built on an :func:`async_view`), run concurrently in one
    trip to LanceDB.

    LanceDB's synchronous API makes three trips to its background event loop per query
    (plan, each batch, end), and each trip takes Python's interpreter lock twice more, so
    beside a thread busy with Python one trip for all of a hybrid search's queries is much
    quicker than a trip per step.
    """
    if not queries:
        return []
    from lancedb.background_loop import LOOP

    async def gathered() -> list[pa.Table]:
        return list(await asyncio.gather(*(query.to_arrow() for query in queries)))

    results: list[pa.Table] = LOOP.run(gathered())  # type: ignore[no-untyped-call]
    return results


def stored_chunk_ids(table: Any) -> set[str]:
    if table.count_rows() == 0:
        return set()
    ids = table.search().select(["chunk_id"]).limit(table.count_rows()).to_arrow()
    return set(ids.column("chunk_id").to_pylist())


def upsert_chunks(table: Any, rows: pa.Table) -> None:
    """Insert or replace rows by chunk id."""
    (
        table.merge_insert("chunk_id")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute(rows)
    )


def delete_chunks(table: Any, chunk_ids: Iterable[str]) -> int:
    ids = sorted(chunk_ids)
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ", ".join(sql_string(i) for i in ids[start : start + DELETE_BATCH])
        table.delete(f"chunk_id IN ({batch})")
    return len(ids)


def _index_types(table: Any) -> dict[str, str]:
    return {str(config.index_type): str(config.name) for config in table.list_indices()}


def refresh_indexes(table: Any) -> dict[str, Any]:
    """Build missing indexes and fold new rows into existing ones; returns their coverage."""
    rows = table.count_rows()
    indexes = _index_types(table)
    from lancedb.index import FTS, IvfHnswSq

    if rows and "FTS" not in indexes:
        table.create_index("text", config=FTS())
    vector_built = any(kind.startswith("IVF") for kind in indexes)
    if rows >= VECTOR_INDEX_MIN_ROWS and not vector_built:
        partitions = max(1, rows // ROWS_PER_PARTITION)
        table.create_index(
            "vector", config=IvfHnswSq(distance_type="cosine", num_partitions=partitions)
        )
    if rows:
        table.optimize()  # compacts the fragments each write adds, and folds in new rows
    coverage = index_coverage(table)
    # One optimize after a large write may fold the rows into the vector index but not
    # into the full-text one (seen with lancedb 0.40), so repeat while rows are left out.
    for _ in range(OPTIMIZE_ATTEMPTS):
        if not _unindexed(coverage):
            break
        table.optimize()
        coverage = index_coverage(table)
    return coverage


def _unindexed(coverage: dict[str, Any]) -> int:
    return sum(stats["unindexed"] for stats in coverage.values() if isinstance(stats, dict))


def index_coverage(table: Any) -> dict[str, Any]:
    """Rows indexed and not yet indexed, per index, plus the table size."""
    coverage: dict[str, Any] = {"rows": table.count_rows()}
    for config in table.list_indices():
        stats = table.index_stats(config.name)
        if stats is not None:
            coverage[str(config.index_type)] = {
                "indexed": stats.num_indexed_rows,
                "unindexed": stats.num_unindexed_rows,
            }
    return coverage


def _vector_column(vectors: npt.NDArray[np.float32], dimension: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, dimension)


def chunk_rows(
    chunks: Sequence[dict[str, Any]],
    vectors: npt.NDArray[np.float32],
    title_vectors: npt.NDArray[np.float32],
    model: EmbeddingModelInfo,
) -> pa.Table:
    """An Arrow table of chunk rows (dicts with the non-vector columns), their vectors and
    their articles' title vectors (one row each, aligned with ``chunks``)."""
    schema = chunk_schema(model.dimension)
    columns: dict[str, Any] = {
        name: [chunk[name] for chunk in chunks]
        for name in schema.names
        if name not in {"vector", "title_vector", "model_id", "model_version"}
    }
    columns["model_id"] = [model.model_id] * len(chunks)
    columns["model_version"] = [model.version] * len(chunks)
    columns["vector"] = _vector_column(vectors, model.dimension)
    columns["title_vector"] = _vector_column(title_vectors, model.dimension)
    return pa.table(columns, schema=schema)
