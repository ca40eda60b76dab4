"""Why: asset metadata is what a person reads in the Dagster UI. A preview must show a
missing value as a dash, not the word ``null``; a table must carry its row count and
columns where the UI looks for them; growth from nothing must read "new", not a percentage
that only reflects dividing by one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from prosora_pipelines.defs.metadata_tables import MISSING, markdown_preview, table_metadata
from prosora_pipelines.defs.trends.assets import _megatrends_table, _topics_table
from prosora_pipelines.lib.trends.topics import MegatrendMeasure, Topic, TrendReport, trend_windows


def _markdown(value: dg.MetadataValue) -> str:
    assert isinstance(value, dg.MarkdownMetadataValue)
    return value.md_str or ""


def _rows(markdown: str) -> list[list[str]]:
    lines = markdown.splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_preview_shows_missing_values_as_a_dash_never_null() -> None:
    frame = pl.DataFrame(
        {
            "source_id": ["a", "b"],
            "last_success_at": [datetime(2026, 3, 1, 9, 30, tzinfo=UTC), None],
            "last_error": [None, "HTTP 500"],
            "coverage": [["a", "b"], None],
            "items_per_fetch": [None, 2.5],
        }
    )
    text = _markdown(markdown_preview(frame, frame.columns))
    assert "null" not in text.lower()
    assert _rows(text) == [
        ["a", "2026-03-01 09:30", MISSING, "a, b", MISSING],
        ["b", MISSING, "HTTP 500", MISSING, "2.5"],
    ]


def test_preview_keeps_the_table_intact_whatever_the_text() -> None:
    frame = pl.DataFrame({"title": ["A | B\nsecond line", "x" * 200], "n": [1, 2]})
    rows = _rows(_markdown(markdown_preview(frame, ["title", "n"], text_width=40)))
    assert rows[0] == ["A \\| B second line", "1"]
    assert len(rows[1][0]) == 40 and rows[1][0].endswith("…")


def test_table_metadata_names_rows_and_columns_where_the_ui_reads_them(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c"], "tags": [["x"], [], None]})
    metadata = table_metadata(frame, tmp_path / "t.parquet")
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(3)
    schema = metadata["dagster/column_schema"].value
    assert [(c.name, c.type) for c in schema.columns] == [
        ("id", "String"),
        ("tags", "List(String)"),
    ]


def _report(topics: tuple[Topic, ...], megatrends: tuple[MegatrendMeasure, ...]) -> TrendReport:
    return TrendReport(
        windows=trend_windows(datetime(2026, 3, 1, tzinfo=UTC), 14),
        recent_articles=20,
        previous_articles=0,
        undated_excluded=0,
        unindexed_excluded=0,
        unclustered=0,
        topics=topics,
        megatrends=megatrends,
    )


def _topic(topic_id: int, recent: int, previous: int) -> Topic:
    return Topic(
        topic_id=topic_id,
        label_terms=("stablecoin", "reserves"),
        recent_articles=recent,
        previous_articles=previous,
        growth=(recent - previous) / max(previous, 1),
        top_domains=(),
        example_titles=(),
        article_ids=(),
    )


def _measure(name: str, recent: float | None, previous: float | None) -> MegatrendMeasure:
    growth = recent / previous - 1 if recent is not None and previous else None
    return MegatrendMeasure(
        name=name,
        recent_matches=4,
        previous_matches=0,
        recent_share=recent,
        previous_share=previous,
        share_change=None,
        share_growth=growth,
        recent_by_domain=(),
        previous_by_domain=(),
    )


def test_growth_from_nothing_reads_new_and_other_growth_a_signed_percentage() -> None:
    report = _report(
        topics=(_topic(0, recent=10, previous=0), _topic(1, recent=3, previous=2)),
        megatrends=(
            _measure("tokenization", recent=0.2, previous=0.0),
            _measure("open banking", recent=0.1, previous=0.2),
            _measure("quiet", recent=0.0, previous=0.0),
            _measure("no previous window", recent=0.2, previous=None),
        ),
    )
    topics = _markdown(_topics_table(report))
    megatrends = _markdown(_megatrends_table(report))
    assert [row[4] for row in _rows(topics)] == ["new", "+50%"]
    assert [row[4] for row in _rows(megatrends)] == ["new", "-50%", "n/a", "n/a"]
    assert "%" not in _rows(topics)[0][4]
    assert "null" not in (topics + megatrends).lower()
