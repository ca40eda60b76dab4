"""Why: the articles table is rebuilt from every stored raw entry on each run, so a rebuild
must be repeatable (the same table, nothing counted new twice), leave out sources the
catalog dropped, and say plainly when there is nothing to build from."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from prosora_pipelines.lib.articles.published_dates import DateStatus
from prosora_pipelines.lib.articles.store import rebuild_articles
from prosora_pipelines.lib.sources.catalog import Catalog, Source
from prosora_pipelines.lib.sources.raw_entries import RawEntry, raw_entries_frame
from prosora_pipelines.lib.table_names import ARTICLES_TABLE, RAW_ENTRIES_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore

FETCHED = datetime(2026, 11, 1, tzinfo=UTC)
CATALOG = Catalog(
    sources=(
        Source(
            id="ledger-line",
            name="Ledger Line",
            url="https://ledger-line.example/feed.xml",
            kind="rss",
            tier="standard",
            credibility=0.8,
            domains=("finance",),
        ),
    )
)


def _entry(source_id: str, key: str, title: str) -> RawEntry:
    return RawEntry(
        source_id=source_id,
        entry_key=f"guid:{key}",
        link=f"https://{source_id}.example/{key}",
        guid=key,
        title=title,
        summary_html=f"<p>{title}: what happened, who said what, and why it matters.</p>",
        content_html="",
        author=None,
        published_at=FETCHED,
        date_status=DateStatus.OK,
        date_raw=None,
        fetched_at=FETCHED,
        origin="rss20",
    )


def test_rebuild_is_repeatable_and_leaves_out_dropped_sources(tmp_path: Path) -> None:
    tables = TableStore(tmp_path)
    entries = [
        _entry("ledger-line", "rates", "Central bank holds rates"),
        _entry("ledger-line", "bonds", "Bond prices rally on jobs data"),
        _entry("gone-source", "other", "A story from a source the catalog dropped"),
    ]
    tables.write_table(RAW_ENTRIES_TABLE, raw_entries_frame(entries))

    first = rebuild_articles(
        tables, CATALOG, earliest_published=date(2000, 1, 1), near_duplicate_threshold=0.8
    )
    assert (first.raw_entries, first.table.height, first.new_articles) == (3, 2, 2)
    assert set(first.table["source_id"]) == {"ledger-line"}
    stored = tables.read_table(ARTICLES_TABLE)
    assert stored is not None and stored.equals(first.table)

    again = rebuild_articles(
        tables, CATALOG, earliest_published=date(2000, 1, 1), near_duplicate_threshold=0.8
    )
    assert again.new_articles == 0
    assert again.table.equals(first.table)


def test_rebuild_without_raw_entries_says_so_and_writes_nothing(tmp_path: Path) -> None:
    tables = TableStore(tmp_path)
    with pytest.raises(NotMaterializedError, match="raw_entries has not been materialized"):
        rebuild_articles(
            tables, CATALOG, earliest_published=date(2000, 1, 1), near_duplicate_threshold=0.8
        )
    assert tables.read_table(ARTICLES_TABLE) is None
