"""Why: with ``PROSORA_STORAGE_URI`` on an S3-compatible store, the same path as on local
disk must work unchanged: the ingest job writes its tables and the article index to the
bucket, and the command-line search and the query engine answer from there, with nothing
but locks and caches left under ``PROSORA_HOME``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from prosora_pipelines.cli import app
from prosora_pipelines.definitions import defs
from prosora_pipelines.lib.appdb.repository import get_or_create_user
from prosora_pipelines.query_engine_from_settings import engine_from_settings
from prosora_pipelines.settings import get_settings
from prosora_pipelines_tests.support.object_store_server import REGION, object_keys

pytestmark = pytest.mark.integration

QUERY = "AI regulation impact on fintech product strategy"


def test_ingest_index_search_and_query_on_an_s3_compatible_store(
    isolated_home: Path, object_store_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROSORA_STORAGE_URI", f"s3://{bucket}/prosora")
    monkeypatch.setenv("PROSORA_S3_ENDPOINT", object_store_endpoint)
    monkeypatch.setenv("PROSORA_S3_REGION", REGION)
    get_settings.cache_clear()

    result = (
        defs()
        .resolve_job_def("ingest")
        .execute_in_process(
            run_config=dg.RunConfig(ops={"raw_entries": {"config": {"force": True}}}),
            instance=dg.DagsterInstance.ephemeral(),
        )
    )
    assert result.success
    checks = [evaluation.passed for evaluation in result.get_asset_check_evaluations()]
    assert checks and all(checks)
    keys = object_keys(object_store_endpoint, bucket)
    assert "prosora/tables/articles.parquet" in keys
    assert "prosora/tables/article_index_manifest.json" in keys
    assert any(key.startswith("prosora/lancedb/chunks_") for key in keys)
    assert not (isolated_home / "tables").exists() and not (isolated_home / "lancedb").exists()

    searched = CliRunner().invoke(app, ["search", QUERY, "--k", "3", "--json"])
    assert searched.exit_code == 0, searched.output
    assert searched.output.count('"article_id"') == 3

    engine = engine_from_settings(get_settings())
    with engine.sessions.begin() as session:
        user_id = get_or_create_user(session, "writer@example.com", "Writer").id
    answer = engine.process_query(user_id, QUERY, {"formats": ["linkedin_post"]})
    assert answer.status == "completed" and len(answer.evidence) == 8
    assert all(variant.citations for variant in answer.variants)
