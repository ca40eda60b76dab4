"""Data-quality rules for the articles table, as plain functions over a Polars frame.

Each returns a :class:`CheckOutcome`; the Dagster checks only wrap them, so the rules are
tested directly and can fail for real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from prosora_pipelines.lib.articles.building import REQUIRED_ARTICLE_FIELDS


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def ids_unique(articles: pl.DataFrame) -> CheckOutcome:
    duplicated = articles.filter(pl.col("id").is_duplicated())["id"].unique().to_list()
    return CheckOutcome(
        passed=not duplicated,
        description=f"{len(duplicated)} ids appear more than once",
        metadata={"duplicated_ids": duplicated[:20], "rows": articles.height},
    )


def required_fields_present(articles: pl.DataFrame) -> CheckOutcome:
    missing: dict[str, int] = {}
    for name in REQUIRED_ARTICLE_FIELDS:
        column = pl.col(name)
        empty = column.is_null()
        if articles.schema[name] == pl.String():
            empty = empty | (column.str.strip_chars() == "")
        count = articles.filter(empty).height
        if count:
            missing[name] = count
    return CheckOutcome(
        passed=not missing,
        description="every article has " + ", ".join(REQUIRED_ARTICLE_FIELDS)
        if not missing
        else f"empty required fields: {missing}",
        metadata={"empty_by_field": missing},
    )


def dates_sane(articles: pl.DataFrame, *, now: datetime, allowed_skew: timedelta) -> CheckOutcome:
    limit = now + allowed_skew
    future = articles.filter(pl.col("published_at") > limit)
    status_counts = dict(articles.group_by("date_status").len().sort("date_status").iter_rows())
    return CheckOutcome(
        passed=future.is_empty(),
        description=f"{future.height} articles dated after {limit.isoformat()}",
        metadata={
            "future_ids": future["id"].to_list()[:20],
            "date_status_counts": status_counts,
        },
    )


def duplicate_rate_within(articles: pl.DataFrame, *, maximum: float) -> CheckOutcome:
    """Share of rows that are near-duplicates of another article; a high rate smells broken."""
    total = articles.height
    near = articles.filter(pl.col("duplicate_of").is_not_null()).height
    collapsed = int(articles["also_published_by"].list.len().sum()) if total else 0
    rate = (near + collapsed) / (total + collapsed) if total else 0.0
    return CheckOutcome(
        passed=rate <= maximum,
        description=f"duplicate rate {rate:.1%} (limit {maximum:.0%})",
        metadata={
            "duplicate_rate": round(rate, 4),
            "near_duplicates": near,
            "exact_duplicates_collapsed": collapsed,
            "articles": total,
        },
    )
