"""The trends asset. Thin: windows, clustering, labels and megatrend matching are in the library."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from prosora_pipelines.defs.articles.assets import articles as articles_asset
from prosora_pipelines.defs.embeddings.assets import article_index
from prosora_pipelines.defs.embeddings.resources import EmbeddingModelResource
from prosora_pipelines.defs.metadata_tables import OWNERS, markdown_preview, table_metadata
from prosora_pipelines.defs.sources.assets import source_catalog
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.defs.telemetry import traced_materialization
from prosora_pipelines.lib.sources.catalog_snapshot import read_catalog_snapshot
from prosora_pipelines.lib.table_store import NotMaterializedError
from prosora_pipelines.lib.trends.store import SeedModelMismatchError, refresh_trends
from prosora_pipelines.lib.trends.topics import TrendReport

_TOPIC_COLUMNS: dict[str, pl.DataType] = {
    "topic": pl.Int64(),
    "label": pl.String(),
    "recent": pl.Int64(),
    "previous": pl.Int64(),
    "growth": pl.String(),
    "top domains": pl.String(),
}
_MEGATREND_COLUMNS: dict[str, pl.DataType] = {
    "megatrend": pl.String(),
    "recent matches": pl.String(),
    "recent share": pl.String(),
    "previous share": pl.String(),
    "share growth": pl.String(),
}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _growth(recent: float | None, previous: float | None, growth: float | None) -> str:
    """Growth as a signed percentage; from nothing it is "new", not a made-up percentage."""
    if recent is None or previous is None:
        return "n/a"
    if previous == 0:
        return "new" if recent > 0 else "n/a"
    return "n/a" if growth is None else f"{growth:+.0%}"


def _topics_table(report: TrendReport) -> dg.MetadataValue:
    rows = [
        {
            "topic": topic.topic_id,
            "label": topic.label,
            "recent": topic.recent_articles,
            "previous": topic.previous_articles,
            "growth": _growth(topic.recent_articles, topic.previous_articles, topic.growth),
            "top domains": ", ".join(f"{domain} {count}" for domain, count in topic.top_domains),
        }
        for topic in report.topics
    ]
    frame = pl.DataFrame(rows, schema=_TOPIC_COLUMNS)
    return markdown_preview(frame, list(_TOPIC_COLUMNS), rows=30)


def _megatrends_table(report: TrendReport) -> dg.MetadataValue:
    rows = [
        {
            "megatrend": measure.name,
            "recent matches": f"{measure.recent_matches}/{report.recent_articles}",
            "recent share": _percent(measure.recent_share),
            "previous share": _percent(measure.previous_share),
            "share growth": _growth(
                measure.recent_share, measure.previous_share, measure.share_growth
            ),
        }
        for measure in report.megatrends
    ]
    frame = pl.DataFrame(rows, schema=_MEGATREND_COLUMNS)
    return markdown_preview(frame, list(_MEGATREND_COLUMNS), rows=50)


@dg.asset(
    group_name="trends",
    deps=[article_index, articles_asset, source_catalog],
    kinds={"scikitlearn", "parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
)
@traced_materialization
def trends(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    embedding_model: EmbeddingModelResource,
) -> dg.MaterializeResult[None]:
    """What the last two weeks of articles are about, what is growing, and the megatrends.

    Topics: the recent window's articles clustered by meaning (their vectors in the article
    index), each labelled with the terms that set it apart from the other topics, with its
    size, its size in the previous window, its growth and the domains that cover it.
    Megatrends: each theme the catalog declares (keywords or a seed text) measured in the
    data, as the share of each window's articles that match it and how that share grew.

    The recent window ends at the newest article's publication date, not at the wall
    clock, so a corpus that stopped growing (like the bundled sample) still compares its
    own last two weeks with the two before; the bounds are in the metadata. Undated
    articles fall in no window and are counted.
    """
    try:
        refresh = refresh_trends(
            storage.tables,
            storage.article_index(),
            read_catalog_snapshot(storage.tables).megatrends,
            load_embedder=embedding_model.embedder,
            now=datetime.now(UTC),
        )
    except (NotMaterializedError, SeedModelMismatchError) as exc:
        raise dg.Failure(str(exc)) from exc
    report = refresh.report
    windows = report.windows
    context.log.info(
        f"{len(report.topics)} topics over {report.recent_articles} articles "
        f"({windows.recent_from:%Y-%m-%d %H:%M} to {windows.recent_until:%Y-%m-%d %H:%M} UTC), "
        f"{report.previous_articles} in the previous window, "
        f"{report.undated_excluded} undated left out"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(refresh.topics, refresh.topics_path),
            "previous_window_from": dg.MetadataValue.timestamp(windows.previous_from),
            "recent_window_from": dg.MetadataValue.timestamp(windows.recent_from),
            "recent_window_until": dg.MetadataValue.timestamp(windows.recent_until),
            "recent_articles": report.recent_articles,
            "previous_articles": report.previous_articles,
            "undated_excluded": report.undated_excluded,
            "unindexed_excluded": report.unindexed_excluded,
            "topics": len(report.topics),
            "unclustered_recent_articles": report.unclustered,
            "index_table": refresh.index_table,
            "topics_table": _topics_table(report),
            "megatrends_table": _megatrends_table(report),
        }
    )
