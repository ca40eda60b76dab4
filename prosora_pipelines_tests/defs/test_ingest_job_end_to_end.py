"""Why: `make demo` runs the `ingest` job exactly as defined, on the bundled sample. This
runs that job in-process (as the CLI does) through every asset, from the catalog to the
article index and beyond, checks every asset check passes, and proves a second run encodes
nothing and changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from prosora_pipelines.cli import app
from prosora_pipelines.definitions import defs
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.search import search_articles
from prosora_pipelines.lib.index.vector_store import open_current_table
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines_tests.support.materializations import materialized_metadata

pytestmark = pytest.mark.integration


def _run() -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("ingest")
    return job.execute_in_process(
        run_config=dg.RunConfig(ops={"raw_entries": {"config": {"force": True}}}),
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_ingest_job_on_the_sample_end_to_end(isolated_home: Path, embedder: Embedder) -> None:
    first = _run()
    assert first.success
    materialized = materialized_metadata(first)
    # Every asset but the learning loop's, which has its own job.
    ingested = {
        key.to_user_string()
        for key in defs().resolve_job_def("ingest").asset_layer.executable_asset_keys
    }
    assert set(materialized) == ingested
    table_assets = {
        spec.key.to_user_string()
        for spec in defs().resolve_all_asset_specs()
        if set(spec.kinds) & {"parquet", "lancedb"} and spec.key.to_user_string() in ingested
    }
    assert table_assets == set(materialized) - {"source_catalog"}
    for name in table_assets:
        assert materialized[name]["dagster/row_count"] >= 1, name
        assert materialized[name]["dagster/column_schema"].columns, name
    articles = TableStore(isolated_home).read_table("articles")
    assert articles is not None
    assert materialized["articles"]["dagster/row_count"] == articles.height
    assert [c.name for c in materialized["articles"]["dagster/column_schema"].columns] == (
        articles.columns
    )
    assert (
        materialized["article_index"]["dagster/row_count"]
        == materialized["article_index"]["chunks"]
    )
    texts = [value for m in materialized.values() for value in m.values() if isinstance(value, str)]
    assert [text for text in texts if re.search(r"\|\s*null\s*\|", text)] == []
    index = materialized["article_index"]
    assert index["articles"] == 121 and index["encoded"] == index["chunks"] > 121
    assert index["model"] == "all-MiniLM-L6-v2" and index["dimension"] == 384
    checks = {e.check_name: (e.passed, e.description) for e in first.get_asset_check_evaluations()}
    assert {"index_model_matches", "index_covers_table", "article_ids_unique"} <= set(checks)
    assert all(passed for passed, _ in checks.values()), checks

    second = _run()
    assert second.success
    again = materialized_metadata(second)
    assert again["raw_entries"]["new_entries"] == 0
    assert (again["article_index"]["encoded"], again["article_index"]["deleted"]) == (0, 0)

    table = open_current_table(isolated_home)
    query = "AI regulation impact on fintech product strategy"
    hits = search_articles(table, query, embedder.encode([query])[0], k=10)
    assert len(hits) == 10 and len({hit.source_id for hit in hits}) >= 4

    runner = CliRunner()
    searched = runner.invoke(app, ["search", query, "--k", "3", "--tier", "premium"])
    assert searched.exit_code == 0, searched.output
    assert "premium" in searched.output and "standard" not in searched.output
    listed = runner.invoke(app, ["sources", "list"])
    assert listed.exit_code == 0 and "ledger-line" in listed.output


def test_search_before_any_index_explains_what_to_do() -> None:
    result = CliRunner().invoke(app, ["search", "anything"])
    assert result.exit_code == 2
    assert "materialize article_index first" in " ".join(result.output.split())
