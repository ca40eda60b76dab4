"""The articles asset. Thin: cleaning, ids and dedup live in ``prosora_pipelines.lib``."""

import dagster as dg
import polars as pl

from prosora_pipelines.defs.articles.resources import ArticleRulesResource
from prosora_pipelines.defs.metadata_tables import OWNERS, markdown_preview, table_metadata
from prosora_pipelines.defs.sources.assets import raw_entries, source_catalog
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.defs.telemetry import traced_materialization
from prosora_pipelines.lib.articles.store import rebuild_articles
from prosora_pipelines.lib.sources.catalog_snapshot import read_catalog_snapshot
from prosora_pipelines.lib.table_store import NotMaterializedError


@dg.asset(
    group_name="articles",
    deps=[raw_entries, source_catalog],
    kinds={"polars", "parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
)
@traced_materialization
def articles(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    article_rules: dg.ResourceParam[ArticleRulesResource],
) -> dg.MaterializeResult[None]:
    """Clean, canonical articles: one per story, each knowing who else covered it.

    Rebuilt from every stored raw entry, so the table is a pure function of what was
    fetched: re-running it changes nothing, and a crash leaves the previous table in place.
    Exact duplicates collapse into one row; near-duplicates point at their canonical copy.
    """
    try:
        rebuild = rebuild_articles(
            storage.tables,
            read_catalog_snapshot(storage.tables),
            earliest_published=article_rules.earliest_plausible_date,
            near_duplicate_threshold=article_rules.near_duplicate_threshold,
        )
    except NotMaterializedError as exc:
        raise dg.Failure(str(exc)) from exc
    frame, report, built = rebuild.table, rebuild.report, rebuild.built
    context.log.info(
        f"{frame.height} articles ({report.stories} stories) from {rebuild.raw_entries} raw "
        f"entries; {rebuild.new_articles} new"
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
            **table_metadata(frame, rebuild.table_path),
            "articles": frame.height,
            "stories": report.stories,
            "new_articles": rebuild.new_articles,
            "raw_entries": rebuild.raw_entries,
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
            "build_seconds": round(rebuild.build_seconds, 3),
            "preview": markdown_preview(
                canonical.sort("published_at", descending=True, nulls_last=True),
                ["published_at", "source_id", "tier", "title", "coverage_sources"],
                rows=15,
            ),
        }
    )
