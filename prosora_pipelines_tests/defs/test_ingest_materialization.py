"""Why: the ingest graph must survive a hostile internet. Materializes every asset against a
real HTTP server on loopback serving the sample feeds plus sources that answer 500, time
out, serve garbage or vanish: the good sources flow, the bad ones land in source_health with
their reasons, a second run fetches nothing new, and a crashed run re-runs cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml

from prosora_pipelines.defs.articles import assets as article_assets
from prosora_pipelines.defs.articles import checks as article_checks
from prosora_pipelines.defs.articles.resources import ArticleRulesResource
from prosora_pipelines.defs.sources import assets as source_assets
from prosora_pipelines.defs.sources import checks as source_checks
from prosora_pipelines.defs.sources.resources import FeedFetcherResource, SourceCatalogResource
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.sample_corpus import load_sample_truth
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import BUNDLED_CATALOGS_DIR, SAMPLE_CATALOG, Settings
from prosora_pipelines_tests.support.feed_server import FeedServer, Route
from prosora_pipelines_tests.support.materializations import materialized_metadata

pytestmark = pytest.mark.integration

BAD_SOURCES = {
    "broken-500": "HTTPStatusFetchError",
    "slow-timeout": "ReadTimeout",
    "garbage-body": "FeedRejectedError",
    "vanished-404": "HTTPStatusFetchError",
}
ASSETS_AND_CHECKS: list[Any] = [
    source_assets.source_catalog,
    source_assets.raw_entries,
    source_assets.source_health,
    article_assets.articles,
    article_checks.article_ids_unique,
    article_checks.article_required_fields,
    article_checks.article_dates_sane,
    article_checks.article_duplicate_rate,
    source_checks.some_enabled_source_succeeds,
]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.add_tree(BUNDLED_CATALOGS_DIR / "sample", prefix="/sample/")
        running.add("/broken.xml", Route(status=500))
        running.add("/slow.xml", Route(b"<rss/>", delay=2.0))
        running.add(
            "/garbage.xml", Route(b"\x00\x01 this is not a feed {]", content_type="text/html")
        )
        yield running


def _catalog(server: FeedServer, folder: Path) -> Path:
    raw = yaml.safe_load(SAMPLE_CATALOG.read_text())
    for source in raw["sources"]:
        source["url"] = server.url("/" + source["url"])
    bad = {
        "broken-500": "/broken.xml",
        "slow-timeout": "/slow.xml",
        "garbage-body": "/garbage.xml",
        "vanished-404": "/vanished.xml",
    }
    for source_id, path in bad.items():
        raw["sources"].append(
            {
                "id": source_id,
                "name": source_id,
                "url": server.url(path),
                "kind": "rss",
                "tier": "experimental",
                "credibility": 0.5,
                "domains": ["tech"],
            }
        )
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _resources(catalog: Path, home: Path) -> dict[str, Any]:
    settings = Settings(fetch_read_timeout=0.5, fetch_max_retries=1, fetch_backoff_seconds=0.01)
    return {
        "catalog": SourceCatalogResource(path=str(catalog)),
        "fetcher": FeedFetcherResource.from_settings(settings),
        "article_rules": ArticleRulesResource.from_settings(settings),
        "storage": ProsoraStorage(home=str(home)),
    }


def _materialize(resources: dict[str, Any], *, force: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS_AND_CHECKS,
        resources=resources,
        run_config=dg.RunConfig(ops={"raw_entries": {"config": {"force": force}}}),
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_good_sources_flow_bad_ones_are_reported_and_rerun_changes_nothing(
    server: FeedServer, tmp_path: Path, isolated_home: Path
) -> None:
    resources = _resources(_catalog(server, tmp_path), isolated_home)
    tables = TableStore(isolated_home)
    truth = load_sample_truth()

    first = _materialize(resources)
    assert first.success
    raw = materialized_metadata(first)["raw_entries"]
    assert raw["failed"] == len(BAD_SOURCES)
    assert raw["fetched"] == 15
    assert sorted(raw["failed_sources"]) == sorted(f"{s}: {c}" for s, c in BAD_SOURCES.items())
    articles = tables.read_table("articles")
    assert articles is not None
    assert articles.filter(pl.col("duplicate_of").is_null()).height == len(truth.articles)
    assert articles["id"].n_unique() == articles.height
    evaluations = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert evaluations == dict.fromkeys(evaluations, True) and len(evaluations) == 5

    health = tables.read_table("source_health")
    assert health is not None
    rows = {row["source_id"]: row for row in health.iter_rows(named=True)}
    assert "HTTP 500" in rows["broken-500"]["last_error"]
    assert "HTTP 404" in rows["vanished-404"]["last_error"]
    assert "ReadTimeout" in rows["slow-timeout"]["last_error"]
    assert "FeedRejectedError" in rows["garbage-body"]["last_error"]
    for source_id in BAD_SOURCES:
        assert rows[source_id]["consecutive_failures"] == 1
        assert rows[source_id]["last_success_at"] is None
    assert rows["ledger-line"]["consecutive_failures"] == 0
    assert rows["ledger-line"]["last_items"] == 11

    second = _materialize(resources)
    assert second.success
    again = materialized_metadata(second)["raw_entries"]
    assert (again["fetched"], again["not_modified"], again["new_entries"]) == (0, 15, 0)
    assert materialized_metadata(second)["articles"]["new_articles"] == 0
    after = tables.read_table("articles")
    assert after is not None
    assert after.sort("id").equals(articles.sort("id"))
    assert server.conditional_hits["/sample/feeds/ledger-line.xml"] == 1
    health = tables.read_table("source_health")
    assert health is not None
    assert health.filter(pl.col("source_id") == "broken-500")["consecutive_failures"].item() == 2


def test_every_source_failing_fails_the_health_check(
    server: FeedServer, tmp_path: Path, isolated_home: Path
) -> None:
    catalog = {
        "sources": [
            {
                "id": "broken",
                "name": "Broken",
                "url": server.url("/broken.xml"),
                "kind": "rss",
                "tier": "standard",
                "credibility": 0.7,
                "domains": ["tech"],
            }
        ]
    }
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(catalog))
    result = dg.materialize(
        [*ASSETS_AND_CHECKS[:3], source_checks.some_enabled_source_succeeds],
        resources=_resources(path, isolated_home),
        instance=dg.DagsterInstance.ephemeral(),
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.description == "1 of 1 fetched enabled sources are failing"


def test_crash_after_storing_entries_reruns_without_duplicates_or_gaps(
    server: FeedServer, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = _resources(_catalog(server, tmp_path), isolated_home)
    original_write = TableStore.write_document

    def crash_on_validators(self: TableStore, name: str, value: Any) -> Path:
        if name == "http_validators":
            raise RuntimeError("worker killed mid-run")
        return original_write(self, name, value)

    monkeypatch.setattr(TableStore, "write_document", crash_on_validators)
    crashed = dg.materialize(
        ASSETS_AND_CHECKS,
        resources=resources,
        run_config=dg.RunConfig(ops={"raw_entries": {"config": {"force": True}}}),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not crashed.success
    monkeypatch.setattr(TableStore, "write_document", original_write)

    rerun = _materialize(resources)
    assert rerun.success
    raw = materialized_metadata(rerun)["raw_entries"]
    assert raw["fetched"] == 15 and raw["new_entries"] == 0
    tables = TableStore(isolated_home)
    entries = tables.read_table("raw_entries")
    articles = tables.read_table("articles")
    assert entries is not None and articles is not None
    assert entries.select("source_id", "entry_key").n_unique() == entries.height == 136
    assert articles.filter(pl.col("duplicate_of").is_null()).height == len(
        load_sample_truth().articles
    )


HOSTILE_FEED = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link>
<item><title>&lol1;</title><description>x</description><guid>laugh</guid></item>
<item><title>Script link</title><link>javascript:alert(document.cookie)</link>
<guid isPermaLink="false">script</guid>
<description>A story whose only link would run a script in the reader's browser.</description>
</item>
<item><title>Dated 1900</title><link>https://hostile.example/1900</link><guid>old</guid>
<pubDate>Mon, 01 Jan 1900 00:00:00 GMT</pubDate>
<description>A story that claims to be more than a century old.</description></item>
<item><title>Again</title><link>https://hostile.example/1900</link><guid>old</guid>
<description>The same GUID once more.</description></item>
</channel></rss>"""


def test_hostile_feed_is_flagged_in_health_and_its_junk_never_becomes_articles(
    server: FeedServer, tmp_path: Path, isolated_home: Path
) -> None:
    server.add("/hostile.xml", Route(HOSTILE_FEED))
    catalog = {
        "sources": [
            {
                "id": "hostile",
                "name": "Hostile",
                "url": server.url("/hostile.xml"),
                "kind": "rss",
                "tier": "standard",
                "credibility": 0.7,
                "domains": ["tech"],
            }
        ]
    }
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(catalog))
    result = dg.materialize(
        ASSETS_AND_CHECKS[:4],
        resources=_resources(path, isolated_home),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    tables = TableStore(isolated_home)
    health = tables.read_table("source_health")
    assert health is not None
    [row] = health.iter_rows(named=True)
    assert row["declares_entities"] is True
    assert (row["repeated_entry_keys"], row["rejected_links"]) == (1, 1)
    assert materialized_metadata(result)["source_health"]["healthy"] == 0

    articles = tables.read_table("articles")
    assert articles is not None
    assert sorted(articles["title"].to_list()) == ["Dated 1900", "Script link"]
    assert articles["url"].str.starts_with("http").all()
    dated = articles.filter(pl.col("title") == "Dated 1900").row(0, named=True)
    assert (dated["published_at"], dated["date_status"]) == (None, "implausible")
    metadata = materialized_metadata(result)["articles"]
    assert metadata["dropped_entries"] == {"only unexpanded entity references": 1}
    assert metadata["implausible_dates"] == 1
