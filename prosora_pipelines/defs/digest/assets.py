"""The daily_digest asset. Thin: choosing, ranking and summarizing stories is in the library."""

from datetime import UTC, date, datetime

import dagster as dg
from pydantic import Field

from prosora_pipelines.defs.digest.resources import DigestSummarizerResource
from prosora_pipelines.defs.metadata_tables import OWNERS, table_metadata
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.defs.trends.assets import trends
from prosora_pipelines.lib.digest.store import digest_markdown, refresh_digest
from prosora_pipelines.lib.sources.catalog_snapshot import read_catalog_snapshot
from prosora_pipelines.lib.table_store import NotMaterializedError


class DigestConfig(dg.Config):
    date: str | None = Field(
        default=None,
        description="The UTC day to digest (YYYY-MM-DD); by default the newest article's day.",
    )
    max_stories: int = Field(default=10, ge=1, le=50, description="Stories in the digest.")


@dg.asset(
    group_name="digest",
    deps=[trends],
    kinds={"parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
)
def daily_digest(
    context: dg.AssetExecutionContext,
    config: DigestConfig,
    storage: ProsoraStorage,
    digest_summarizer: dg.ResourceParam[DigestSummarizerResource],
) -> dg.MaterializeResult[None]:
    """The day's stories that matter most to the catalog's domains, each summarized in two
    or three sentences with its citations, grouped by trend topic.

    Stories rank by how many sources and tiers covered them, their source's credibility,
    recency, the growth of their trend topic and how central their domains are to the
    catalog. The day defaults to the newest article's day rather than the wall clock's, so a
    corpus that stopped growing (like the bundled sample) still has a latest digest; making
    a day again replaces only that day's digest.
    """
    try:
        day = date.fromisoformat(config.date) if config.date else None
    except ValueError:
        raise dg.Failure(f"config date {config.date!r} is not a date (YYYY-MM-DD)") from None
    try:
        refresh = refresh_digest(
            storage.tables,
            read_catalog_snapshot(storage.tables),
            digest_summarizer.summarizer(),
            day=day,
            now=datetime.now(UTC),
            limit=config.max_stories,
        )
    except NotMaterializedError as exc:
        raise dg.Failure(str(exc)) from exc
    digest = refresh.digest
    context.log.info(
        f"digest of {digest.day}: {digest.stories.height} stories "
        f"of {digest.articles_published} published"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(refresh.table, refresh.table_path),
            "digest_date": dg.MetadataValue.text(digest.day.isoformat()),
            "articles_published": digest.articles_published,
            "stories": digest.stories.height,
            "digest": dg.MetadataValue.md(digest_markdown(digest)),
        }
    )
