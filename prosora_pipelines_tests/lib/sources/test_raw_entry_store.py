"""Why: a refresh may be killed at any point and re-run, and must then neither duplicate nor
lose an entry; sources are fetched only when due unless forced, and a run that names a source
the catalog lacks stops before fetching anything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prosora_pipelines.lib.sources.catalog import Catalog, Source
from prosora_pipelines.lib.sources.fetching import Fetcher, FetchPolicy
from prosora_pipelines.lib.sources.raw_entry_store import (
    FetchLimits,
    FetchPlan,
    FetchProgress,
    UnknownSourcesError,
    refresh_raw_entries,
    store_source_health,
)
from prosora_pipelines.lib.table_names import (
    FETCH_LOG,
    RAW_ENTRIES_TABLE,
    SOURCE_HEALTH_TABLE,
    VALIDATORS_DOCUMENT,
)
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines_tests.support.feed_server import FeedServer, Route

# Fetch records carry the wall-clock time of each fetch, so the run time must be near it.
NOW = datetime.now(UTC).replace(microsecond=0)
LIMITS = FetchLimits(
    allowed_skew=timedelta(hours=2), max_pages_per_web_source=5, log_retention=timedelta(days=30)
)
FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Ledger Line</title><link>https://ledger-line.example/</link>
<item><title>Rates hold</title><link>https://ledger-line.example/rates</link><guid>rates</guid>
<description>The central bank held rates.</description></item>
<item><title>Bonds rally</title><link>https://ledger-line.example/bonds</link><guid>bonds</guid>
<description>Bond prices rose.</description></item>
</channel></rss>"""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.add("/ledger.xml", Route(FEED))
        running.add("/broken.xml", Route(status=500))
        yield running


def _source(source_id: str, url: str, **extra: Any) -> Source:
    return Source(
        id=source_id,
        name=source_id,
        url=url,
        kind="rss",
        tier="standard",
        credibility=0.8,
        domains=("finance",),
        **extra,
    )


@pytest.fixture
def catalog(server: FeedServer) -> Catalog:
    return Catalog(
        sources=(
            _source("ledger-line", server.url("/ledger.xml")),
            _source("broken", server.url("/broken.xml")),
            _source("paused", server.url("/paused.xml"), enabled=False),
        )
    )


def _refresh(tables: TableStore, catalog: Catalog, run_id: str, **options: Any) -> Any:
    policy = FetchPolicy(max_retries=0, backoff_seconds=0.01)
    return refresh_raw_entries(
        tables,
        catalog,
        fetcher=Fetcher(policy),
        limits=LIMITS,
        run_id=run_id,
        now=options.pop("now", NOW),
        **options,
    )


def test_refresh_stores_entries_records_and_validators_and_reports_progress(
    tmp_path: Path, catalog: Catalog
) -> None:
    tables = TableStore(tmp_path)
    plans: list[FetchPlan] = []
    progress: list[FetchProgress] = []

    refresh = _refresh(tables, catalog, "run-1", on_plan=plans.append, on_progress=progress.append)

    assert [s.id for s in plans[0].due] == ["ledger-line", "broken"]
    assert [s.id for s in plans[0].candidates] == ["ledger-line", "broken"]
    assert sorted((p.done, p.total) for p in progress) == [(1, 2), (2, 2)]
    assert (refresh.fetched, refresh.new_entries, refresh.entries_seen) == (1, 2, 2)
    assert [r.source_id for r in refresh.failed] == ["broken"]
    stored = tables.read_table(RAW_ENTRIES_TABLE)
    assert stored is not None and stored.equals(refresh.table)
    assert sorted(stored["entry_key"]) == ["guid:bonds", "guid:rates"]
    log = tables.read_log(FETCH_LOG)
    assert log is not None and sorted(log["source_id"]) == ["broken", "ledger-line"]
    assert list(tables.read_document(VALIDATORS_DOCUMENT)) == [catalog.sources[0].url]


def test_only_due_sources_are_fetched_unless_forced(
    tmp_path: Path, catalog: Catalog, server: FeedServer
) -> None:
    tables = TableStore(tmp_path)
    _refresh(tables, catalog, "run-1")

    soon = _refresh(tables, catalog, "run-2", now=NOW + timedelta(minutes=10))
    assert soon.plan.due == [] and soon.records == []

    forced = _refresh(tables, catalog, "run-3", force=True, only_sources=["ledger-line"])
    assert [s.id for s in forced.plan.due] == ["ledger-line"]
    assert (forced.not_modified, forced.new_entries, forced.table.height) == (1, 0, 2)
    assert server.conditional_hits["/ledger.xml"] == 1


def test_unknown_source_stops_the_refresh_before_any_fetch(
    tmp_path: Path, catalog: Catalog, server: FeedServer
) -> None:
    tables = TableStore(tmp_path)
    with pytest.raises(UnknownSourcesError, match=r"only_sources: \['nope'\]"):
        _refresh(tables, catalog, "run-1", only_sources=["ledger-line", "nope"])
    assert sum(server.requests.values()) == 0
    assert tables.read_table(RAW_ENTRIES_TABLE) is None


def test_refresh_killed_before_saving_validators_reruns_without_duplicates_or_gaps(
    tmp_path: Path, catalog: Catalog, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = TableStore(tmp_path)
    original_write = TableStore.write_document

    def killed_on_validators(self: TableStore, name: str, value: Any) -> Path:
        if name == VALIDATORS_DOCUMENT:
            raise RuntimeError("worker killed mid-run")
        return original_write(self, name, value)

    monkeypatch.setattr(TableStore, "write_document", killed_on_validators)
    with pytest.raises(RuntimeError, match="killed"):
        _refresh(tables, catalog, "run-1")
    monkeypatch.setattr(TableStore, "write_document", original_write)
    stored = tables.read_table(RAW_ENTRIES_TABLE)
    assert stored is not None and stored.height == 2
    assert tables.read_document(VALIDATORS_DOCUMENT) is None

    rerun = _refresh(tables, catalog, "run-1", force=True)
    assert (rerun.fetched, rerun.not_modified, rerun.new_entries) == (1, 0, 0)
    assert server.conditional_hits["/ledger.xml"] == 0
    assert rerun.table.select("source_id", "entry_key").n_unique() == rerun.table.height == 2
    log = tables.read_log(FETCH_LOG)
    assert log is not None and log.height == 2, "a re-run replaces its own fetch-log part"


def test_source_health_is_summarized_from_the_fetch_log_and_stored(
    tmp_path: Path, catalog: Catalog
) -> None:
    tables = TableStore(tmp_path)
    _refresh(tables, catalog, "run-1")
    _refresh(tables, catalog, "run-2", force=True)

    health, path = store_source_health(tables, catalog)

    failures = dict(zip(health["source_id"], health["consecutive_failures"], strict=True))
    assert failures == {"ledger-line": 0, "broken": 2, "paused": 0}
    stored = tables.read_table(SOURCE_HEALTH_TABLE)
    assert stored is not None and stored.equals(health) and Path(path).exists()
