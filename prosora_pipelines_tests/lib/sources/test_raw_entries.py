"""Why: raw entries are the durable record of what was fetched; re-fetching an entry must
replace it (keeping when it was first seen), never add a second copy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prosora_pipelines.lib.articles.published_dates import DateStatus
from prosora_pipelines.lib.sources.raw_entries import (
    RawEntry,
    entry_key_for,
    raw_entries_frame,
    raw_entries_from_frame,
    upsert_raw_entries,
)

FIRST = datetime(2026, 11, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 2, tzinfo=UTC)


def _entry(key: str, title: str = "Title", fetched_at: datetime = FIRST) -> RawEntry:
    return RawEntry(
        source_id="ledger-line",
        entry_key=key,
        link=f"https://ledger-line.example/{key}",
        guid=key,
        title=title,
        summary_html="<p>summary</p>",
        content_html="",
        author=None,
        published_at=None,
        date_status=DateStatus.MISSING,
        date_raw=None,
        fetched_at=fetched_at,
        origin="rss20",
    )


def test_upsert_replaces_updates_keeps_first_seen_and_counts_new() -> None:
    stored, added = upsert_raw_entries(None, raw_entries_frame([_entry("a"), _entry("b")]))
    assert added == 2
    update = raw_entries_frame([_entry("b", "Edited", LATER), _entry("c", fetched_at=LATER)])
    merged, added = upsert_raw_entries(stored, update)
    assert added == 1
    assert merged.height == 3
    rows = {row["entry_key"]: row for row in merged.iter_rows(named=True)}
    assert rows["b"]["title"] == "Edited"
    assert rows["b"]["first_seen_at"] == FIRST and rows["b"]["fetched_at"] == LATER
    assert rows["c"]["first_seen_at"] == LATER
    again, added = upsert_raw_entries(merged, update)
    assert added == 0 and again.equals(merged)


def test_frame_round_trip() -> None:
    entry = replace(_entry("a"), published_at=FIRST, date_status=DateStatus.OK)
    assert raw_entries_from_frame(raw_entries_frame([entry])) == [entry]


def test_entry_keys_prefer_guid_then_link_then_content() -> None:
    assert entry_key_for(" g1 ", "https://x", "t", "s") == "guid:g1"
    assert entry_key_for("", "https://x", "t", "s") == "link:https://x"
    assert entry_key_for(None, None, "t", "s") == entry_key_for(None, None, "t", "s")
    assert entry_key_for(None, None, "t", "s") != entry_key_for(None, None, "t", "other")
