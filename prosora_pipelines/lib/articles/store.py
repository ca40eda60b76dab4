"""Rebuilding the stored articles table from every stored raw entry.

The table is a pure function of what was fetched: re-running the rebuild changes nothing,
and the write replaces the file atomically under the table's lock, so a crash leaves the
previous table in place and a reader never sees half of one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import polars as pl

from prosora_pipelines.lib.articles.building import BuiltArticles, articles_frame, build_articles
from prosora_pipelines.lib.articles.dedup import DedupReport, deduplicate
from prosora_pipelines.lib.sources.catalog import Catalog
from prosora_pipelines.lib.sources.raw_entries import raw_entries_from_frame
from prosora_pipelines.lib.table_names import ARTICLES_TABLE, RAW_ENTRIES_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore


@dataclass(frozen=True)
class ArticlesRebuild:
    """The rebuilt table and how it came out of the raw entries."""

    table: pl.DataFrame
    table_path: str
    """A local path, or an ``s3://`` URI when the tables are on an object store."""
    raw_entries: int
    built: BuiltArticles
    report: DedupReport
    new_articles: int
    """Article ids the previous table did not hold."""
    build_seconds: float


def rebuild_articles(
    tables: TableStore,
    catalog: Catalog,
    *,
    earliest_published: date,
    near_duplicate_threshold: float,
) -> ArticlesRebuild:
    """Clean, canonical, deduplicated articles from every stored raw entry, stored.

    Entries of sources no longer in ``catalog`` are left out. Raises
    ``NotMaterializedError`` when no raw entries were ever stored.
    """
    stored = tables.read_table(RAW_ENTRIES_TABLE)
    if stored is None:
        raise NotMaterializedError("raw_entries has not been materialized yet")
    started = time.perf_counter()
    built = build_articles(
        raw_entries_from_frame(stored),
        {s.id: s for s in catalog.sources},
        earliest_published=earliest_published,
    )
    deduplicated, report = deduplicate(built.articles, near_duplicate_threshold)
    frame = articles_frame(deduplicated)
    build_seconds = time.perf_counter() - started
    with tables.lock(ARTICLES_TABLE):
        previous = tables.read_table(ARTICLES_TABLE)
        previous_ids = set(previous["id"].to_list()) if previous is not None else set()
        path = tables.write_table(ARTICLES_TABLE, frame)
    return ArticlesRebuild(
        table=frame,
        table_path=path,
        raw_entries=stored.height,
        built=built,
        report=report,
        new_articles=len(set(frame["id"].to_list()) - previous_ids),
        build_seconds=build_seconds,
    )
