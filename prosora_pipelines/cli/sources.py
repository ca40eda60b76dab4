"""``prosora sources``: the source catalog and its health."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prosora_pipelines.cli.terminal import console, fail, print_json
from prosora_pipelines.lib.sources.catalog import CatalogError, Source, load_catalog
from prosora_pipelines.lib.table_names import SOURCE_HEALTH_TABLE
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings

sources_app = typer.Typer(help="The source catalog and its health.", no_args_is_help=True)


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
    health = TableStore(settings.storage_location()).read_table(SOURCE_HEALTH_TABLE)
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
