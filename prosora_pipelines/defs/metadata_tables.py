"""Small tables for asset metadata, rendered as Markdown in the Dagster UI."""

from collections.abc import Sequence

import dagster as dg
import polars as pl


def markdown_preview(
    frame: pl.DataFrame, columns: Sequence[str], *, rows: int = 10, text_width: int = 80
) -> dg.MetadataValue:
    """The first ``rows`` rows of ``columns`` as a Markdown table."""
    shown = frame.select(columns).head(rows)
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=rows,
        tbl_cols=len(columns),
        fmt_str_lengths=text_width,
        tbl_width_chars=2000,
    ):
        return dg.MetadataValue.md(str(shown))
