"""Assets of the sources domain. Thin: the work is in ``prosora_pipelines.lib``."""

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from prosora_pipelines.defs.metadata_tables import OWNERS, markdown_preview, table_metadata
from prosora_pipelines.defs.sources.resources import FeedFetcherResource, SourceCatalogResource
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.catalog import Catalog, catalog_fingerprint
from prosora_pipelines.lib.fetching import CacheValidators
from prosora_pipelines.lib.ingestion import (
    FetchRecord,
    fetch_records_frame,
    ingest_sources,
    sources_due,
)
from prosora_pipelines.lib.raw_entries import raw_entries_frame, upsert_raw_entries
from prosora_pipelines.lib.source_health import last_attempts, summarize_health
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings

CATALOG_DOCUMENT = "source_catalog"
RAW_ENTRIES_TABLE = "raw_entries"
FETCH_LOG = "fetch_log"
VALIDATORS_DOCUMENT = "http_validators"
SOURCE_HEALTH_TABLE = "source_health"


def read_catalog_snapshot(tables: TableStore) -> Catalog:
    """The catalog as last materialized; downstream assets use it, not the live file."""
    snapshot = tables.read_document(CATALOG_DOCUMENT)
    if snapshot is None:
        raise dg.Failure("source_catalog has not been materialized yet")
    return Catalog.model_validate(snapshot["catalog"])


@dg.asset(group_name="sources", kinds={"yaml", "json"}, owners=OWNERS, code_version="1")
def source_catalog(
    context: dg.AssetExecutionContext, catalog: SourceCatalogResource, storage: ProsoraStorage
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """The validated source catalog: every followed feed and page, its tier and credibility.

    Validation failures name the source and the field. The snapshot written here is what
    the rest of the graph reads, so one run never mixes two versions of the catalog.
    """
    loaded = catalog.load()
    fingerprint = catalog_fingerprint(loaded)
    snapshot_path = storage.tables.write_document(
        CATALOG_DOCUMENT,
        {
            "path": catalog.path,
            "fingerprint": fingerprint,
            "catalog": loaded.model_dump(mode="json"),
        },
    )
    frame = pl.DataFrame(
        [
            {
                "id": s.id,
                "name": s.name,
                "kind": s.kind.value,
                "tier": s.tier.value,
                "credibility": s.credibility,
                "domains": ", ".join(s.domains),
                "enabled": s.enabled,
                "refresh": str(s.refresh_interval),
            }
            for s in loaded.sources
        ]
    )
    context.log.info(f"catalog {catalog.path}: {len(loaded.sources)} sources")
    return dg.MaterializeResult(
        metadata={
            "sources": len(loaded.sources),
            "enabled": len(loaded.enabled_sources),
            "by_tier": dict(Counter(s.tier.value for s in loaded.sources)),
            "by_domain": dict(Counter(d for s in loaded.sources for d in s.domains)),
            "megatrends": [m.name for m in loaded.megatrends],
            "catalog_path": catalog.path,
            "fingerprint": fingerprint,
            "snapshot_path": dg.MetadataValue.path(str(snapshot_path)),
            "preview": markdown_preview(frame, frame.columns, rows=50),
        },
        data_version=dg.DataVersion(fingerprint),
    )


class RawEntriesConfig(dg.Config):
    """Run options for fetching."""

    force: bool = False
    """Fetch every enabled source now, ignoring refresh intervals."""
    only_sources: list[str] = []  # noqa: RUF012  (Dagster copies config defaults)
    """Fetch just these source ids (still subject to ``force`` and refresh intervals)."""


@dg.asset(
    group_name="sources",
    deps=[source_catalog],
    kinds={"python", "parquet"},
    owners=OWNERS,
    code_version="1",
)
def raw_entries(
    context: dg.AssetExecutionContext,
    config: RawEntriesConfig,
    fetcher: FeedFetcherResource,
    storage: ProsoraStorage,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Every entry the sources have published, as fetched, keyed by source and entry.

    Fetches the sources that are due (or all, with ``force``), concurrently and politely;
    unchanged feeds answer 304 and cost no parsing. One failing source never fails the run:
    its failure is a fetch record that ``source_health`` reports. Entries are upserted, so a
    re-run (or a run after a crash) neither duplicates nor loses any.
    """
    tables = storage.tables
    catalog = read_catalog_snapshot(tables)
    now = datetime.now(UTC)
    candidates = [
        s for s in catalog.enabled_sources if not config.only_sources or s.id in config.only_sources
    ]
    unknown = set(config.only_sources) - {s.id for s in catalog.sources}
    if unknown:
        raise dg.Failure(f"unknown source ids in only_sources: {sorted(unknown)}")
    log = tables.read_log(FETCH_LOG)
    due = candidates if config.force else sources_due(candidates, last_attempts(log), now)  # type: ignore[arg-type]
    context.log.info(f"{len(due)} of {len(candidates)} enabled sources are due")
    stored_validators = tables.read_document(VALIDATORS_DOCUMENT) or {}
    validators = {url: CacheValidators(**value) for url, value in stored_validators.items()}
    done = 0

    def report(record: FetchRecord) -> None:
        nonlocal done
        done += 1
        outcome = (
            "not modified"
            if record.not_modified
            else f"{record.items} items"
            if record.succeeded
            else f"FAILED {record.error_class}: {record.error_message}"
        )
        context.log.info(f"[{done}/{len(due)}] {record.source_id}: {outcome}")

    started = time.perf_counter()
    result = asyncio.run(
        ingest_sources(
            due,
            fetcher=fetcher.fetcher(),
            validators=validators,
            run_id=context.run.run_id,
            fetched_at=now,
            allowed_skew=timedelta(minutes=fetcher.future_date_skew_minutes),
            max_pages_per_web_source=fetcher.max_pages_per_web_source,
            on_record=report,
        )
    )
    fetch_seconds = time.perf_counter() - started
    for warning in result.warnings[:50]:
        context.log.warning(warning)

    with tables.lock(RAW_ENTRIES_TABLE):
        merged, added = upsert_raw_entries(
            tables.read_table(RAW_ENTRIES_TABLE), raw_entries_frame(result.entries)
        )
        raw_entries_path = tables.write_table(RAW_ENTRIES_TABLE, merged)
    records = fetch_records_frame(result.records)
    tables.write_log_part(FETCH_LOG, f"{now:%Y%m%dT%H%M%S}-{context.run.run_id}", records)
    tables.prune_log(FETCH_LOG, timedelta(days=get_settings().fetch_log_retention_days))
    # Validators are saved only once the entries they vouch for are stored.
    tables.write_document(
        VALIDATORS_DOCUMENT,
        {
            url: {"etag": v.etag, "last_modified": v.last_modified}
            for url, v in result.validators.items()
        },
    )

    failed = [r for r in result.records if not r.succeeded]
    return dg.MaterializeResult(
        metadata={
            **table_metadata(merged, raw_entries_path),
            "sources_due": len(due),
            "fetched": sum(1 for r in result.records if r.succeeded and not r.not_modified),
            "not_modified": sum(1 for r in result.records if r.not_modified),
            "failed": len(failed),
            "failed_sources": [f"{r.source_id}: {r.error_class}" for r in failed],
            "entries_seen": len(result.entries),
            "new_entries": added,
            "stored_entries": merged.height,
            "bytes_read": sum(r.bytes_read for r in result.records),
            "fetch_seconds": round(fetch_seconds, 3),
            "fetches": markdown_preview(
                records.sort("source_id"),
                ["source_id", "status", "items", "not_modified", "elapsed_seconds", "error_class"],
                rows=100,
            ),
        }
    )


@dg.asset(
    group_name="sources",
    deps=[raw_entries],
    kinds={"python", "parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
)
def source_health(
    context: dg.AssetExecutionContext, storage: ProsoraStorage
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Per source: last success, consecutive failures, items per fetch, last error.

    Derived from the fetch log, so a source that broke yesterday stays visible until it
    recovers, with the reason of its latest failure.
    """
    tables = storage.tables
    catalog = read_catalog_snapshot(tables)
    health = summarize_health(tables.read_log(FETCH_LOG), catalog.sources)
    health_path = tables.write_table(SOURCE_HEALTH_TABLE, health)
    failing = health.filter(pl.col("consecutive_failures") > 0)
    for row in failing.iter_rows(named=True):
        context.log.warning(
            f"{row['source_id']}: {row['consecutive_failures']} consecutive failures; "
            f"last error {row['last_error']}"
        )
    for row in health.filter(pl.col("declares_entities")).iter_rows(named=True):
        context.log.warning(
            f"{row['source_id']}: its feed declares XML entities in a DTD (entities are never "
            "expanded; entries made only of them are dropped)"
        )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(health, health_path),
            "sources": health.height,
            "healthy": health.filter(
                (pl.col("consecutive_failures") == 0) & ~pl.col("declares_entities")
            ).height,
            "failing": failing.height,
            "never_fetched": health.filter(pl.col("fetches") == 0).height,
            "declaring_entities": health.filter(pl.col("declares_entities")).height,
            "with_encoding_problems": health.filter(
                pl.col("encoding_problem").is_not_null()
            ).height,
            "health": markdown_preview(
                health.sort("consecutive_failures", "source_id", descending=[True, False]),
                [
                    "source_id",
                    "tier",
                    "last_success_at",
                    "consecutive_failures",
                    "items_per_fetch",
                    "last_error",
                    "declares_entities",
                    "encoding_problem",
                    "repeated_entry_keys",
                    "rejected_links",
                ],
                rows=100,
            ),
        }
    )
