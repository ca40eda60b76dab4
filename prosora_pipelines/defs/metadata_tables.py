"""What assets tell the Dagster UI about themselves: owners, table shapes and small previews.

One home for these so every asset describes itself the same way: the UI's catalog shows the
owner, the columns and the row count of each table, and previews read as text, with an
empty cell shown as a dash rather than the word ``null``. Each asset also declares a
``code_version``: bump it when the same input would give a different output, so the UI marks
what was built by older code.
"""

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import dagster as dg
import polars as pl

OWNERS = ["team:prosora-pipelines"]
"""Who answers for every asset of this code location (shown in the UI's catalog)."""

MISSING = "—"
"""How a preview cell without a value reads."""


def _table(columns: Iterable[tuple[str, str]], rows: int, location: str) -> dict[str, Any]:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "path": dg.MetadataValue.path(location),
    }


def table_metadata(frame: pl.DataFrame, path: str) -> dict[str, Any]:
    """Row count, column schema and location of the table written from ``frame``."""
    return _table(
        ((name, str(dtype)) for name, dtype in frame.schema.items()), frame.height, str(path)
    )


def arrow_table_metadata(schema: Iterable[Any], rows: int, location: str) -> dict[str, Any]:
    """Row count, column schema and location of a table with an Arrow schema (LanceDB)."""
    return _table(((field.name, str(field.type)) for field in schema), rows, location)


def _cell(value: Any, text_width: int) -> str:
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        text = f"{value:%Y-%m-%d %H:%M}"
    elif isinstance(value, date):
        text = f"{value:%Y-%m-%d}"
    elif isinstance(value, list | tuple):
        text = ", ".join(_cell(item, text_width) for item in value) or MISSING
    elif isinstance(value, float):
        text = str(round(value, 3))
    else:
        text = str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= text_width else text[: text_width - 1] + "…"


def markdown_preview(
    frame: pl.DataFrame, columns: Sequence[str], *, rows: int = 10, text_width: int = 80
) -> dg.MetadataValue:
    """The first ``rows`` rows of ``columns`` as a Markdown table."""
    shown = frame.select(columns).head(rows)
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *(
            "| " + " | ".join(_cell(value, text_width) for value in row) + " |"
            for row in shown.iter_rows()
        ),
    ]
    return dg.MetadataValue.md("\n".join(lines))
