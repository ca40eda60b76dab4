"""Why: the asset checks must be able to fail; each rule is shown failing on bad data and
passing on good data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from prosora_pipelines.lib.articles import checks as article_checks
from prosora_pipelines.lib.articles.building import ARTICLE_SCHEMA

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _frame(**overrides: list[object]) -> pl.DataFrame:
    rows: dict[str, list[object]] = {
        "id": ["a", "b"],
        "source_id": ["s", "s"],
        "url": ["https://s.example/a", "https://s.example/b"],
        "canonical_url": ["https://s.example/a", "https://s.example/b"],
        "title": ["A", "B"],
        "text": ["text a", "text b"],
        "fetched_at": [NOW, NOW],
        "published_at": [NOW - timedelta(days=1), None],
        "date_status": ["ok", "missing"],
        "duplicate_of": [None, None],
        "also_published_by": [[], []],
    }
    rows.update(overrides)
    schema = {name: ARTICLE_SCHEMA[name] for name in rows}
    return pl.DataFrame(rows, schema=schema)


def test_ids_unique() -> None:
    assert article_checks.ids_unique(_frame()).passed
    failing = article_checks.ids_unique(_frame(id=["a", "a"]))
    assert not failing.passed and failing.metadata["duplicated_ids"] == ["a"]


def test_required_fields() -> None:
    assert article_checks.required_fields_present(_frame()).passed
    failing = article_checks.required_fields_present(_frame(title=["A", "  "], url=[None, "u"]))
    assert not failing.passed
    assert failing.metadata["empty_by_field"] == {"url": 1, "title": 1}


def test_dates_sane() -> None:
    skew = timedelta(hours=2)
    assert article_checks.dates_sane(_frame(), now=NOW, allowed_skew=skew).passed
    future = _frame(published_at=[NOW + timedelta(days=30), None])
    failing = article_checks.dates_sane(future, now=NOW, allowed_skew=skew)
    assert not failing.passed and failing.metadata["future_ids"] == ["a"]


def test_duplicate_rate() -> None:
    clean = article_checks.duplicate_rate_within(_frame(), maximum=0.5)
    assert clean.passed and clean.metadata["duplicate_rate"] == 0.0
    duplicated = _frame(duplicate_of=[None, "a"], also_published_by=[["x", "y"], []])
    failing = article_checks.duplicate_rate_within(duplicated, maximum=0.5)
    assert not failing.passed and failing.metadata["duplicate_rate"] == 0.75
