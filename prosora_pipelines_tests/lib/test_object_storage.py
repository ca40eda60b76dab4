"""Why: past one host, run workers and API replicas share one copy of the tables and the
article index on S3-compatible storage. Every table operation must work there as on disk,
credentials must come from the standard AWS variables only, and two processes writing the
same LanceDB table at once must both land without corrupting it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.index.vector_store import ArticleIndex
from prosora_pipelines.lib.storage_location import StorageLocation, StorageUriError
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import Settings
from prosora_pipelines_tests.support.object_store_server import REGION, object_keys

REPOSITORY = Path(__file__).resolve().parents[2]


def _location(home: Path, endpoint: str, bucket: str) -> StorageLocation:
    return StorageLocation(home, f"s3://{bucket}/prod/", endpoint=endpoint, region=REGION)


def test_tables_documents_and_logs_live_in_the_bucket(
    isolated_home: Path, object_store_endpoint: str, bucket: str
) -> None:
    tables = TableStore(_location(isolated_home, object_store_endpoint, bucket))
    assert tables.read_table("articles") is None and tables.read_log("fetch_log") is None
    frame = pl.DataFrame({"article_id": ["a", "b"], "words": [120, 80]})
    written = tables.write_table("articles", frame)
    assert written == f"s3://{bucket}/prod/tables/articles.parquet"
    stored = tables.read_table("articles")
    assert stored is not None and stored.equals(frame)
    tables.write_document("index_manifest", {"table": "chunks_x"})
    assert tables.read_document("index_manifest") == {"table": "chunks_x"}
    tables.write_log_part("fetch_log", "run-1", pl.DataFrame({"source_id": ["s1"]}))
    tables.write_log_part("fetch_log", "run-2", pl.DataFrame({"source_id": ["s2"]}))
    tables.write_log_part("fetch_log", "run-2", pl.DataFrame({"source_id": ["s2", "s3"]}))
    log = tables.read_log("fetch_log")
    assert log is not None and sorted(log["source_id"]) == ["s1", "s2", "s3"]
    assert sorted(object_keys(object_store_endpoint, bucket)) == [
        "prod/tables/articles.parquet",
        "prod/tables/fetch_log/run-1.parquet",
        "prod/tables/fetch_log/run-2.parquet",
        "prod/tables/index_manifest.json",
    ]
    assert not (isolated_home / "tables").exists()
    assert tables.prune_log("fetch_log", timedelta(days=1)) == 0
    later = datetime.now(UTC) + timedelta(days=2)
    assert tables.prune_log("fetch_log", timedelta(days=1), now=later) == 2
    assert tables.read_log("fetch_log") is None


def test_settings_build_the_location_and_refuse_other_schemes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROSORA_STORAGE_URI", "s3://bucket/p/")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    location = Settings(home=tmp_path).storage_location()
    assert location.lancedb_uri == "s3://bucket/p/lancedb"
    assert location.lancedb_options() == {"endpoint": "http://127.0.0.1:9000", "allow_http": "true"}
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        Settings(home=tmp_path, storage_uri="gs://bucket/p")
    with pytest.raises(StorageUriError):
        StorageLocation(tmp_path, "s3://")


WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import pyarrow as pa
    from prosora_pipelines.lib.index.vector_store import ArticleIndex
    from prosora_pipelines.lib.storage_location import StorageLocation

    place, writer, start_at = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    location = StorageLocation(
        Path(place["home"]), place["uri"], endpoint=place["endpoint"], region=place["region"]
    )
    table = ArticleIndex.at(location).open("shared")
    time.sleep(max(0.0, start_at - time.time()))
    for n in range(12):
        table.add(pa.table({"id": [f"{writer}-{n}"], "writer": [writer]}))
    """
)


@pytest.mark.integration
def test_two_writers_at_once_both_land_and_the_table_stays_whole(
    isolated_home: Path, object_store_endpoint: str, bucket: str
) -> None:
    import pyarrow as pa

    location = _location(isolated_home, object_store_endpoint, bucket)
    index = ArticleIndex.at(location)
    index._db.create_table(
        "shared", schema=pa.schema([("id", pa.string()), ("writer", pa.string())])
    )
    place = json.dumps(
        {
            "home": str(isolated_home),
            "uri": location.uri,
            "endpoint": object_store_endpoint,
            "region": REGION,
        }
    )
    start_at = time.time() + 4  # both writers are past their imports by then
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, place, name, str(start_at)],
            env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors
    table = ArticleIndex.at(location).open("shared")
    ids = sorted(table.to_arrow().column("id").to_pylist())
    assert ids == sorted(f"{w}-{n}" for w in "ab" for n in range(12))
    # One version per append, none lost or overwritten: 24 commits after the empty table.
    assert table.version == 1 + 24
    history = [version["version"] for version in table.list_versions()]
    assert history == list(range(1, 26))
