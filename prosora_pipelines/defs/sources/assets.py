"""Assets of the sources domain. Thin: the work is in ``prosora_pipelines.lib``."""

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from prosora_pipelines.defs.metadata_tables import OWNERS, markdown_preview, table_metadata
from prosora_pipelines.defs.sources.resources import FeedFetcherResource, SourceCatalogResource
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.defs.telemetry import traced_materialization
from prosora_pipelines.lib.sources.catalog_snapshot import (
    read_catalog_snapshot,
    store_catalog_snapshot,
)
from prosora_pipelines.lib.sources.raw_entry_store import (
    FetchPlan,
    FetchProgress,
    UnknownSourcesError,
    refresh_raw_entries,
    store_source_health,
)
from prosora_pipelines.lib.table_store import NotMaterializedError


@dg.asset(group_name="sources", kinds={"yaml", "json"}, owners=OWNERS, code_version="1")
@traced_materialization
def source_catalog(
    context: dg.AssetExecutionContext, catalog: SourceCatalogResource, storage: ProsoraStorage
) -> dg.MaterializeResult[None]:
    """The validated source catalog: every followed feed and page, its tier and credibility.

    Validation failures name the source and the field. The snapshot written here is what
    the rest of the graph reads, so one run never mixes two versions of the catalog.
    """
    loaded = catalog.load()
    snapshot = store_catalog_snapshot(storage.tables, loaded, catalog.path)
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
            "fingerprint": snapshot.fingerprint,
            "snapshot_path": dg.MetadataValue.path(str(snapshot.path)),
            "preview": markdown_preview(frame, frame.columns, rows=50),
        },
        data_version=dg.DataVersion(snapshot.fingerprint),
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
@traced_materialization
def raw_entries(
    context: dg.AssetExecutionContext,
    config: RawEntriesConfig,
    fetcher: dg.ResourceParam[FeedFetcherResource],
    storage: ProsoraStorage,
) -> dg.MaterializeResult[None]:
    """Every entry the sources have published, as fetched, keyed by source and entry.

    Fetches the sources that are due (or all, with ``force``), concurrently and politely;
    unchanged feeds answer 304 and cost no parsing. One failing source never fails the run:
    its failure is a fetch record that ``source_health`` reports. Entries are upserted, so a
    re-run (or a run after a crash) neither duplicates nor loses any.
    """

    def report_plan(plan: FetchPlan) -> None:
        context.log.info(f"{len(plan.due)} of {len(plan.candidates)} enabled sources are due")

    def report_progress(progress: FetchProgress) -> None:
        record = progress.record
        outcome = (
            "not modified"
            if record.not_modified
            else f"{record.items} items"
            if record.succeeded
            else f"FAILED {record.error_class}: {record.error_message}"
        )
        context.log.info(f"[{progress.done}/{progress.total}] {record.source_id}: {outcome}")

    try:
        refresh = refresh_raw_entries(
            storage.tables,
            read_catalog_snapshot(storage.tables),
            fetcher=fetcher.fetcher(),
            limits=fetcher.limits,
            run_id=context.run.run_id,
            now=datetime.now(UTC),
            force=config.force,
            only_sources=config.only_sources,
            on_plan=report_plan,
            on_progress=report_progress,
        )
    except (NotMaterializedError, UnknownSourcesError) as exc:
        raise dg.Failure(str(exc)) from exc
    for warning in refresh.warnings[:50]:
        context.log.warning(warning)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(refresh.table, refresh.table_path),
            "sources_due": len(refresh.plan.due),
            "fetched": refresh.fetched,
            "not_modified": refresh.not_modified,
            "failed": len(refresh.failed),
            "failed_sources": [f"{r.source_id}: {r.error_class}" for r in refresh.failed],
            "entries_seen": refresh.entries_seen,
            "new_entries": refresh.new_entries,
            "stored_entries": refresh.table.height,
            "bytes_read": refresh.bytes_read,
            "fetch_seconds": round(refresh.fetch_seconds, 3),
            "fetches": markdown_preview(
                refresh.fetch_records.sort("source_id"),
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
@traced_materialization
def source_health(
    context: dg.AssetExecutionContext, storage: ProsoraStorage
) -> dg.MaterializeResult[None]:
    """Per source: last success, consecutive failures, items per fetch, last error.

    Derived from the fetch log, so a source that broke yesterday stays visible until it
    recovers, with the reason of its latest failure.
    """
    try:
        health, health_path = store_source_health(
            storage.tables, read_catalog_snapshot(storage.tables)
        )
    except NotMaterializedError as exc:
        raise dg.Failure(str(exc)) from exc
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
