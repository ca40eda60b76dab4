"""Raw entries: what a source published, as found, before cleaning and deduplication.

A raw entry keeps the publisher's HTML so cleaning can be improved and re-run later
without fetching again; it is keyed by (source, entry key) so re-fetching the same item
replaces it rather than adding a copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from prosora_pipelines.lib.articles.published_dates import DateStatus


@dataclass(frozen=True)
class RawEntry:
    source_id: str
    entry_key: str
    link: str | None
    guid: str | None
    title: str
    summary_html: str
    content_html: str
    author: str | None
    published_at: datetime | None
    date_status: DateStatus
    date_raw: str | None
    fetched_at: datetime
    origin: str


def entry_key_for(guid: str | None, link: str | None, title: str, summary: str) -> str:
    """Stable key of an entry within its source: GUID, else link, else a content hash."""
    if guid and guid.strip():
        return "guid:" + guid.strip()
    if link and link.strip():
        return "link:" + link.strip()
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()[:32]
    return "hash:" + digest


RAW_ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "source_id": pl.String(),
    "entry_key": pl.String(),
    "link": pl.String(),
    "guid": pl.String(),
    "title": pl.String(),
    "summary_html": pl.String(),
    "content_html": pl.String(),
    "author": pl.String(),
    "published_at": pl.Datetime("us", "UTC"),
    "date_status": pl.String(),
    "date_raw": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "origin": pl.String(),
}
RAW_ENTRY_KEY = ["source_id", "entry_key"]


def raw_entries_frame(entries: Iterable[RawEntry]) -> pl.DataFrame:
    rows = [{name: getattr(entry, name) for name in RAW_ENTRY_SCHEMA} for entry in entries]
    return pl.DataFrame(rows, schema=RAW_ENTRY_SCHEMA)


def raw_entries_from_frame(frame: pl.DataFrame) -> list[RawEntry]:
    return [
        RawEntry(**{**row, "date_status": DateStatus(row["date_status"])})
        for row in frame.select(list(RAW_ENTRY_SCHEMA)).iter_rows(named=True)
    ]


def upsert_raw_entries(
    existing: pl.DataFrame | None, new: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """Merge newly fetched entries into the stored ones, keyed by (source, entry key).

    A re-fetched entry replaces its stored version but keeps the time it was first seen.
    Returns the merged table and how many keys it did not hold before.
    """
    new = new.unique(subset=RAW_ENTRY_KEY, keep="last")
    if existing is None or existing.is_empty():
        return new.with_columns(pl.col("fetched_at").alias("first_seen_at")), new.height
    first_seen = existing.select([*RAW_ENTRY_KEY, "first_seen_at"])
    incoming = new.join(first_seen, on=RAW_ENTRY_KEY, how="left").with_columns(
        pl.coalesce("first_seen_at", "fetched_at").alias("first_seen_at")
    )
    added = new.join(first_seen, on=RAW_ENTRY_KEY, how="anti").height
    kept = existing.join(new.select(RAW_ENTRY_KEY), on=RAW_ENTRY_KEY, how="anti")
    merged = pl.concat([kept, incoming.select(kept.columns)], how="vertical_relaxed")
    return merged.sort(RAW_ENTRY_KEY), added
