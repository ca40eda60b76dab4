"""``prosora sql``: read-only SQL over every materialized table and the app database."""

from __future__ import annotations

import csv
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from prosora_pipelines.cli.terminal import console, fail
from prosora_pipelines.settings import get_settings


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def sql(
    query: Annotated[
        str | None,
        typer.Argument(help="One SELECT; without it, the views and their columns are listed."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV.")] = False,
) -> None:
    """Read-only SQL (DuckDB) over the materialized tables and the app database."""
    import duckdb

    from prosora_pipelines.lib.sql.read_only import WriteRefusedError
    from prosora_pipelines.lib.sql.workspace import open_workspace

    if as_json and as_csv:
        raise fail("choose one of --json and --csv")
    settings = get_settings()
    workspace = open_workspace(settings.home, settings.app_database_url())
    try:
        for note in workspace.notes:
            typer.echo(f"note: {note}", err=True)
        if query is None:
            if as_json:
                typer.echo(
                    json.dumps(
                        [
                            {"view": v.name, "source": v.source, "columns": dict(v.columns)}
                            for v in workspace.views
                        ],
                        indent=2,
                    )
                )
                return
            for view in workspace.views:
                listing = Table(title=f"{view.name}  ({view.source})", title_justify="left")
                listing.add_column("column")
                listing.add_column("type")
                for name, kind in view.columns:
                    listing.add_row(name, kind)
                console.print(listing)
            return
        try:
            rows = workspace.query(query)
        except WriteRefusedError as error:
            raise fail(str(error)) from None
        except duckdb.Error as error:
            raise fail(" ".join(str(error).split())) from None
    finally:
        workspace.close()
    if as_json:
        typer.echo(rows.write_json())
    elif as_csv:
        # Lists and structs as JSON in their cells: CSV has no nesting.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(rows.columns)
        writer.writerows([_cell(value) for value in row] for row in rows.iter_rows())
    else:
        table = Table(*rows.columns)
        for row in rows.iter_rows():
            table.add_row(*(_cell(value) for value in row))
        console.print(table)
        console.print(f"{rows.height} row{'s' if rows.height != 1 else ''}")
