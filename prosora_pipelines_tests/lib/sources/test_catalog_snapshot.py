"""Why: every step after ``source_catalog`` reads the stored snapshot, not the file, so one
run never mixes two catalog versions; the snapshot must give back the catalog it stored,
and a step run before the first snapshot must say which asset to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from prosora_pipelines.lib.sources.catalog import catalog_fingerprint, load_catalog
from prosora_pipelines.lib.sources.catalog_snapshot import (
    read_catalog_snapshot,
    store_catalog_snapshot,
)
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore
from prosora_pipelines.settings import SAMPLE_CATALOG


def test_the_stored_snapshot_gives_back_the_catalog_and_its_fingerprint(tmp_path: Path) -> None:
    tables = TableStore(tmp_path)
    catalog = load_catalog(SAMPLE_CATALOG)
    snapshot = store_catalog_snapshot(tables, catalog, str(SAMPLE_CATALOG))
    assert snapshot.fingerprint == catalog_fingerprint(catalog)
    assert Path(snapshot.path).exists()
    assert read_catalog_snapshot(tables) == catalog


def test_reading_before_the_first_snapshot_names_the_asset(tmp_path: Path) -> None:
    with pytest.raises(NotMaterializedError, match="source_catalog has not been materialized"):
        read_catalog_snapshot(TableStore(tmp_path))
