"""The ``prosora`` command line: run the pipelines and look at what they produced."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from prosora_pipelines.lib.catalog import CatalogError, load_catalog
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings

app = typer.Typer(help="Prosora Pipelines: self-hosted content intelligence.", no_args_is_help=True)
sources_app = typer.Typer(help="The source catalog and its health.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
console = Console()

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
}


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def run_ingest(*, force: bool, only_sources: list[str]) -> bool:
    """Run the ingest job in this process, recorded in the Dagster instance; True if it passed."""
    import dagster as dg

    from prosora_pipelines.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def("ingest")
    run_config = dg.RunConfig(
        ops={"raw_entries": {"config": {"force": force, "only_sources": only_sources}}}
    )
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False
        )
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
    for column in ("published", "source", "tier", "title", "covered by"):
        table.add_column(column)
    for row in stories.head(10).iter_rows(named=True):
        published = row["published_at"].date().isoformat() if row["published_at"] else "undated"
        table.add_row(
            published,
            row["source_id"],
            row["tier"],
            row["title"],
            ", ".join(row["coverage_sources"]),
        )
    console.print(table)
    console.print("Open the Dagster UI with [bold]make dev[/bold] to see runs, lineage and checks.")


@sources_app.command("list")
def sources_list(
    catalog: Annotated[Path | None, typer.Option(help="Catalog file (default: setting).")] = None,
) -> None:
    """The catalog's sources with their latest health, when sources have been fetched."""
    settings = get_settings()
    try:
        loaded = load_catalog(catalog or settings.catalog)
    except CatalogError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    health = TableStore(settings.home).read_table("source_health")
    by_id = (
        {row["source_id"]: row for row in health.iter_rows(named=True)}
        if health is not None
        else {}
    )
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
