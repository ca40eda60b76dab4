"""Refreshing the stored raw entries: fetch the due sources and keep what they published,
and the per-source health summarized from the fetch log this writes.

The order of the writes is what makes a run safe to kill at any point. Entries are upserted
first, under the table's lock (the API and other runs read it); then the run's fetch records
are written; the HTTP validators (ETag, Last-Modified) are saved last. A run that dies before
its validators are saved sends the old ones next time, so the sources answer in full instead
of 304 for entries that were never stored, and the upsert keeps that second copy from adding
rows. Re-running a run replaces its own fetch-log part.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from prosora_pipelines.lib.sources.catalog import Catalog, Source
from prosora_pipelines.lib.sources.fetching import CacheValidators, Fetcher
from prosora_pipelines.lib.sources.health import last_attempts, summarize_health
from prosora_pipelines.lib.sources.ingestion import (
    FetchRecord,
    fetch_records_frame,
    ingest_sources,
    sources_due,
)
from prosora_pipelines.lib.sources.raw_entries import raw_entries_frame, upsert_raw_entries
from prosora_pipelines.lib.table_names import (
    FETCH_LOG,
    RAW_ENTRIES_TABLE,
    SOURCE_HEALTH_TABLE,
    VALIDATORS_DOCUMENT,
)
from prosora_pipelines.lib.table_store import TableStore


class UnknownSourcesError(ValueError):
    """A run asked for source ids the catalog does not have."""


@dataclass(frozen=True)
class FetchLimits:
    """How far one refresh may go; read from the settings by the caller."""

    allowed_skew: timedelta
    """How far in the future a published date may lie before it is called implausible."""
    max_pages_per_web_source: int
    log_retention: timedelta
    """Fetch-log parts older than this are removed after the run's own part is written."""


@dataclass(frozen=True)
class FetchPlan:
    """Which sources this run fetches, out of the enabled ones it was asked about."""

    due: list[Source]
    candidates: list[Source]


@dataclass(frozen=True)
class FetchProgress:
    """One source done: its record and how many of the due sources are done so far."""

    record: FetchRecord
    done: int
    total: int


@dataclass(frozen=True)
class RawEntriesRefresh:
    """What one refresh fetched and what the stored raw-entries table holds after it."""

    plan: FetchPlan
    records: list[FetchRecord]
    fetch_records: pl.DataFrame
    """The run's fetch records, as written to the fetch log."""
    warnings: list[str]
    entries_seen: int
    new_entries: int
    table: pl.DataFrame
    table_path: str
    """A local path, or an ``s3://`` URI when the tables are on an object store."""
    fetch_seconds: float

    @property
    def fetched(self) -> int:
        return sum(1 for r in self.records if r.succeeded and not r.not_modified)

    @property
    def not_modified(self) -> int:
        return sum(1 for r in self.records if r.not_modified)

    @property
    def failed(self) -> list[FetchRecord]:
        return [r for r in self.records if not r.succeeded]

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.records)


def plan_fetch(
    catalog: Catalog,
    fetch_log: pl.DataFrame | None,
    *,
    now: datetime,
    force: bool,
    only_sources: Sequence[str],
) -> FetchPlan:
    """The enabled sources asked for (all, or ``only_sources``) and those of them now due.

    With ``force`` every one of them is due, whatever its refresh interval says.
    """
    unknown = set(only_sources) - {s.id for s in catalog.sources}
    if unknown:
        raise UnknownSourcesError(f"unknown source ids in only_sources: {sorted(unknown)}")
    candidates = [s for s in catalog.enabled_sources if not only_sources or s.id in only_sources]
    due = candidates if force else sources_due(candidates, last_attempts(fetch_log), now)
    return FetchPlan(due=due, candidates=candidates)


def refresh_raw_entries(
    tables: TableStore,
    catalog: Catalog,
    *,
    fetcher: Fetcher,
    limits: FetchLimits,
    run_id: str,
    now: datetime,
    force: bool = False,
    only_sources: Sequence[str] = (),
    on_plan: Callable[[FetchPlan], None] | None = None,
    on_progress: Callable[[FetchProgress], None] | None = None,
) -> RawEntriesRefresh:
    """Fetch the due sources of ``catalog`` and store their entries, records and validators.

    One failing source never fails the refresh: its failure is a fetch record. Raises
    ``UnknownSourcesError`` before fetching anything when ``only_sources`` names a source
    the catalog lacks.
    """
    plan = plan_fetch(
        catalog, tables.read_log(FETCH_LOG), now=now, force=force, only_sources=only_sources
    )
    if on_plan is not None:
        on_plan(plan)
    stored_validators = tables.read_document(VALIDATORS_DOCUMENT) or {}
    validators = {url: CacheValidators(**value) for url, value in stored_validators.items()}
    done = 0

    def record_done(record: FetchRecord) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(FetchProgress(record=record, done=done, total=len(plan.due)))

    started = time.perf_counter()
    result = asyncio.run(
        ingest_sources(
            plan.due,
            fetcher=fetcher,
            validators=validators,
            run_id=run_id,
            fetched_at=now,
            allowed_skew=limits.allowed_skew,
            max_pages_per_web_source=limits.max_pages_per_web_source,
            on_record=record_done,
        )
    )
    fetch_seconds = time.perf_counter() - started

    with tables.lock(RAW_ENTRIES_TABLE):
        merged, added = upsert_raw_entries(
            tables.read_table(RAW_ENTRIES_TABLE), raw_entries_frame(result.entries)
        )
        table_path = tables.write_table(RAW_ENTRIES_TABLE, merged)
    records = fetch_records_frame(result.records)
    tables.write_log_part(FETCH_LOG, f"{now:%Y%m%dT%H%M%S}-{run_id}", records)
    tables.prune_log(FETCH_LOG, limits.log_retention)
    # Last: validators vouch for entries, so they are saved only once those are stored.
    tables.write_document(
        VALIDATORS_DOCUMENT,
        {
            url: {"etag": v.etag, "last_modified": v.last_modified}
            for url, v in result.validators.items()
        },
    )
    return RawEntriesRefresh(
        plan=plan,
        records=result.records,
        fetch_records=records,
        warnings=result.warnings,
        entries_seen=len(result.entries),
        new_entries=added,
        table=merged,
        table_path=table_path,
        fetch_seconds=fetch_seconds,
    )


def store_source_health(tables: TableStore, catalog: Catalog) -> tuple[pl.DataFrame, str]:
    """Per-source health summarized from the whole fetch log, stored; the table and its path.

    Derived from the log rather than the last run, so a source that broke yesterday stays
    visible until it recovers.
    """
    health = summarize_health(tables.read_log(FETCH_LOG), catalog.sources)
    return health, tables.write_table(SOURCE_HEALTH_TABLE, health)
