"""The catalog as last materialized: the one every step of the graph reads.

The catalog file may be edited while a run is under way; the steps read this snapshot
instead, so one run never mixes two versions of the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from prosora_pipelines.lib.sources.catalog import Catalog, catalog_fingerprint
from prosora_pipelines.lib.table_names import CATALOG_DOCUMENT
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore


@dataclass(frozen=True)
class CatalogSnapshot:
    fingerprint: str
    path: str
    """Where the snapshot was written."""


def store_catalog_snapshot(tables: TableStore, catalog: Catalog, source: str) -> CatalogSnapshot:
    """Store ``catalog`` (read from the file ``source``) with its fingerprint."""
    fingerprint = catalog_fingerprint(catalog)
    path = tables.write_document(
        CATALOG_DOCUMENT,
        {"path": source, "fingerprint": fingerprint, "catalog": catalog.model_dump(mode="json")},
    )
    return CatalogSnapshot(fingerprint=fingerprint, path=path)


def read_catalog_snapshot(tables: TableStore) -> Catalog:
    """The catalog as last stored; ``NotMaterializedError`` before the first snapshot."""
    snapshot = tables.read_document(CATALOG_DOCUMENT)
    if snapshot is None:
        raise NotMaterializedError("source_catalog has not been materialized yet")
    return Catalog.model_validate(snapshot["catalog"])
