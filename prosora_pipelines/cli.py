"""The ``prosora`` command line: run the pipelines and look at what they produced."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.table import Table

from prosora_pipelines.api_commands import serve, token_app
from prosora_pipelines.lib.sources.catalog import CatalogError, Source, load_catalog
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.query_commands import profile_app, query, run_query
from prosora_pipelines.settings import get_settings, invalid_settings_message
from prosora_pipelines.terminal import console, fail, print_json

app = typer.Typer(help="Prosora Pipelines: self-hosted content intelligence.", no_args_is_help=True)
sources_app = typer.Typer(help="The source catalog and its health.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(profile_app, name="profile")
app.add_typer(token_app, name="token")
app.command()(query)
app.command()(serve)


@app.callback()
def _settings_first() -> None:
    # Every command reads the settings; reading them here first turns a bad one into one
    # line naming the variable, not a validation traceback from inside the command.
    try:
        get_settings()
    except (ValidationError, SettingsError) as error:
        raise fail(invalid_settings_message(error)) from None


SUMMARY_FIELDS = {
    "source_catalog": ["sources", "enabled"],
    "raw_entries": [
        "sources_due",
        "fetched",
        "not_modified",
        "failed",
        "new_entries",
        "stored_entries",
    ],
    "source_health": ["healthy", "failing"],
    "articles": [
        "articles",
        "stories",
        "new_articles",
        "exact_url_duplicates",
        "exact_content_duplicates",
        "near_duplicates",
    ],
    "article_index": ["chunks", "encoded", "deleted", "chunks_per_second", "device"],
    "trends": ["recent_articles", "previous_articles", "topics"],
}
DEMO_QUERIES = [
    ("AI regulation impact on fintech product strategy", ["linkedin_post"]),
    ("Write an X thread on stablecoin reserve rules", None),
]


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def run_ingest(*, force: bool, only_sources: list[str]) -> bool:
    """Run the ingest job in this process, recorded in the Dagster instance; True if it passed."""
    import dagster as dg

    from prosora_pipelines.dagster_home import ensure_dagster_home
    from prosora_pipelines.definitions import defs
    from prosora_pipelines.run_progress import execute_with_progress

    ensure_dagster_home(get_settings().home)
    definitions = defs()
    job = definitions.resolve_job_def("ingest")
    run_config = dg.RunConfig(
        ops={"raw_entries": {"config": {"force": force, "only_sources": only_sources}}},
        # The progress bar shows the run; the full log stays in the instance for the UI.
        loggers={"console": {"config": {"log_level": "WARNING"}}},
    )
    with dg.DagsterInstance.get() as instance:
        result = execute_with_progress(job, instance, run_config, console)
    table = Table(title="Materialized", show_lines=False)
    table.add_column("asset")
    table.add_column("figures")
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is None:
            continue
        key = materialization.asset_key.to_user_string()
        metadata = materialization.metadata
        figures = ", ".join(
            f"{name} {_metadata_value(metadata[name])}"
            for name in SUMMARY_FIELDS.get(key, [])
            if name in metadata
        )
        table.add_row(key, figures)
    console.print(table)
    for evaluation in result.get_asset_check_evaluations():
        mark = "[green]passed[/green]" if evaluation.passed else "[red]FAILED[/red]"
        console.print(f"check {evaluation.check_name}: {mark} {evaluation.description or ''}")
    if not result.success:
        console.print(f"[red]run {result.run_id} failed[/red]: see the logs above")
    return result.success


@app.command()
def materialize(
    force: Annotated[bool, typer.Option(help="Fetch every enabled source now.")] = False,
    source: Annotated[
        list[str] | None, typer.Option(help="Only this source id (repeatable).")
    ] = None,
) -> None:
    """Run the ingest job (catalog, fetching, source health, articles) in this process."""
    if not run_ingest(force=force, only_sources=source or []):
        raise typer.Exit(1)


@app.command()
def demo() -> None:
    """Ingest the configured catalog (the bundled offline sample by default) and show it."""
    settings = get_settings()
    console.rule("Prosora Pipelines demo")
    console.print(f"catalog: {settings.catalog}\ndata:    {settings.home}")
    if not run_ingest(force=True, only_sources=[]):
        raise typer.Exit(1)
    articles = TableStore(settings.home).read_table("articles")
    if articles is None:
        raise typer.Exit(1)
    import polars as pl

    stories = articles.filter(pl.col("duplicate_of").is_null()).sort(
        pl.col("coverage_sources").list.len(), "published_at", descending=True, nulls_last=True
    )
    table = Table(title="Most widely covered stories")
    for column in ("published", "canonical source", "title", "sources"):
        table.add_column(column)
    for row in stories.head(8).iter_rows(named=True):
        published = row["published_at"].date().isoformat() if row["published_at"] else "undated"
        table.add_row(published, row["source_id"], row["title"], str(len(row["coverage_sources"])))
    console.print(table)
    _print_trends(TableStore(settings.home))
    for text, formats in DEMO_QUERIES:
        console.rule(f"Query: {text}")
        run_query(text, formats, variants=3, email=None)
    console.print("Open the Dagster UI with [bold]make dev[/bold] to see runs, lineage and checks.")


def _print_trends(tables: TableStore) -> None:
    megatrends = tables.read_table("megatrends")
    if megatrends is None or megatrends.is_empty():
        return
    table = Table(title="Megatrends: share of articles, recent window vs the one before")
    for column in ("megatrend", "recent", "previous"):
        table.add_column(column)
    for row in megatrends.iter_rows(named=True):
        table.add_row(
            row["name"],
            f"{row['recent_share']:.0%} ({row['recent_matches']} articles)",
            f"{row['previous_share']:.0%} ({row['previous_matches']} articles)",
        )
    console.print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option(min=1, max=100, help="Articles to return.")] = 10,
    source: Annotated[
        list[str] | None, typer.Option(help="Only this source id (repeatable).")
    ] = None,
    tier: Annotated[list[str] | None, typer.Option(help="Only this tier (repeatable).")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Only this domain (repeatable).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Published on or after (UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Hybrid search over the article index (meaning and words, credibility, recency)."""
    from prosora_pipelines.lib.index.embedding import load_embedder
    from prosora_pipelines.lib.index.search import SearchFilters, search_articles
    from prosora_pipelines.lib.index.vector_store import IndexUnavailableError, open_current_table

    settings = get_settings()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-index") as pool:
        # Side by side, as in engine_from_settings: LanceDB's import is Python, the
        # encoder's load mostly native code.
        opened = pool.submit(open_current_table, settings.home)
        embedder = load_embedder(
            settings.embedding_model,
            settings.embedding_device,
            settings.embedding_precision,
            settings.home,
        )
    try:
        index = opened.result()
    except IndexUnavailableError as exc:
        raise fail(str(exc)) from None
    filters = SearchFilters(
        sources=tuple(source or ()),
        tiers=tuple(tier or ()),
        domains=tuple(domain or ()),
        since=since.replace(tzinfo=since.tzinfo or UTC) if since else None,
    )
    hits = search_articles(index, query, embedder.encode_query(query), k=k, filters=filters)
    if as_json:
        print_json({"query": query, "hits": [hit.model_dump(mode="json") for hit in hits]})
        return
    table = Table(title=f"Search: {query}")
    for column in ("score", "source", "tier", "published", "title"):
        table.add_column(column)
    for hit in hits:
        published = hit.published_at.date().isoformat() if hit.published_at else "undated"
        table.add_row(f"{hit.score:.2f}", hit.source_id, hit.tier, published, hit.title)
    console.print(table)


@sources_app.command("list")
def sources_list(
    catalog: Annotated[Path | None, typer.Option(help="Catalog file (default: setting).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the sources and their health as JSON.")
    ] = False,
) -> None:
    """The catalog's sources with their latest health, when sources have been fetched."""
    settings = get_settings()
    try:
        loaded = load_catalog(catalog or settings.catalog)
    except CatalogError as exc:
        raise fail(str(exc)) from None
    health = TableStore(settings.home).read_table("source_health")
    by_id = (
        {row["source_id"]: row for row in health.iter_rows(named=True)}
        if health is not None
        else {}
    )
    if as_json:
        # Each source as the catalog has it, with its latest health (null before any fetch)
        # less what repeats the catalog.
        repeated = {"source_id", *Source.model_fields}
        print_json(
            [
                {
                    **source.model_dump(mode="json"),
                    "health": {k: v for k, v in by_id[source.id].items() if k not in repeated}
                    if source.id in by_id
                    else None,
                }
                for source in loaded.sources
            ]
        )
        return
    table = Table(title=f"{len(loaded.sources)} sources")
    for column in (
        "id",
        "kind",
        "tier",
        "cred.",
        "domains",
        "last success",
        "failures",
        "last error",
    ):
        table.add_column(column)
    for source in loaded.sources:
        row = by_id.get(source.id, {})
        last_success = row.get("last_success_at")
        table.add_row(
            source.id + ("" if source.enabled else " (disabled)"),
            source.kind.value,
            source.tier.value,
            f"{source.credibility:.2f}",
            ", ".join(source.domains),
            last_success.isoformat(timespec="minutes") if last_success else "-",
            str(row.get("consecutive_failures", "-")),
            (row.get("last_error") or "")[:60],
        )
    console.print(table)
