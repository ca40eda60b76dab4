"""The articles asset. Thin: cleaning, ids and dedup live in ``prosora_pipelines.lib``."""

import time

import dagster as dg
import polars as pl

from prosora_pipelines.defs.metadata_tables import OWNERS, markdown_preview, table_metadata
from prosora_pipelines.defs.sources.assets import raw_entries, read_catalog_snapshot, source_catalog
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.articles import articles_frame, build_articles
from prosora_pipelines.lib.dedup import deduplicate
from prosora_pipelines.lib.raw_entries import raw_entries_from_frame
from prosora_pipelines.lib.raw_entry_store import RAW_ENTRIES_TABLE
from prosora_pipelines.settings import get_settings

ARTICLES_TABLE = "articles"


@dg.asset(
    group_name="articles",
    deps=[raw_entries, source_catalog],
    kinds={"polars", "parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
)
def articles(
    context: dg.AssetExecutionContext, storage: ProsoraStorage
) -> dg.MaterializeResult[None]:
    """Clean, canonical articles: one per story, each knowing who else covered it.

    Rebuilt from every stored raw entry, so the table is a pure function of what was
    fetched: re-running it changes nothing, and a crash leaves the previous table in place.
    Exact duplicates collapse into one row; near-duplicates point at their canonical copy.
    """
    tables = storage.tables
    catalog = read_catalog_snapshot(tables)
    stored = tables.read_table(RAW_ENTRIES_TABLE)
    if stored is None:
        raise dg.Failure("raw_entries has not been materialized yet")
    started = time.perf_counter()
    settings = get_settings()
    built = build_articles(
        raw_entries_from_frame(stored),
        {s.id: s for s in catalog.sources},
        earliest_published=settings.earliest_plausible_date,
    )
    deduplicated, report = deduplicate(built.articles, settings.near_duplicate_threshold)
    frame = articles_frame(deduplicated)
    elapsed = time.perf_counter() - started
    with tables.lock(ARTICLES_TABLE):
        previous = tables.read_table(ARTICLES_TABLE)
        previous_ids = set(previous["id"].to_list()) if previous is not None else set()
        path = tables.write_table(ARTICLES_TABLE, frame)
    new_ids = set(frame["id"].to_list()) - previous_ids
    context.log.info(
        f"{frame.height} articles ({report.stories} stories) from {stored.height} raw entries; "
        f"{len(new_ids)} new"
    )
    dropped = {reason.value: count for reason, count in sorted(built.dropped.items())}
    if dropped or built.rejected_links:
        context.log.info(
            f"entries dropped: {dropped or 'none'}; "
            f"links that are not web pages ignored: {built.rejected_links}"
        )
    canonical = frame.filter(pl.col("duplicate_of").is_null())
    return dg.MaterializeResult(
        metadata={
            **table_metadata(frame, path),
            "articles": frame.height,
            "stories": report.stories,
            "new_articles": len(new_ids),
            "raw_entries": stored.height,
            "exact_url_duplicates": report.exact_url_duplicates,
            "exact_content_duplicates": report.exact_content_duplicates,
            "near_duplicates": report.near_duplicates,
            "duplicate_rate": round(report.duplicate_rate, 4),
            "dropped_entries": dropped,
            "rejected_links": built.rejected_links,
            "undated": frame.filter(pl.col("published_at").is_null()).height,
            "implausible_dates": frame.filter(pl.col("date_status") == "implausible").height,
            "stories_covered_by_several_sources": canonical.filter(
                pl.col("coverage_sources").list.len() > 1
            ).height,
            "build_seconds": round(elapsed, 3),
            "preview": markdown_preview(
                canonical.sort("published_at", descending=True, nulls_last=True),
                ["published_at", "source_id", "tier", "title", "coverage_sources"],
                rows=15,
            ),
        }
    )
