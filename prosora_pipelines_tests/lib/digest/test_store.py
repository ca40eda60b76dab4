from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.articles.building import articles_frame
from prosora_pipelines.lib.digest.store import (
    digest_days,
    digest_markdown,
    read_digest,
    refresh_digest,
)
from prosora_pipelines.lib.digest.summaries import ExtractiveSummarizer
from prosora_pipelines.lib.sample_corpus import sample_articles
from prosora_pipelines.lib.sources.catalog import load_catalog
from prosora_pipelines.lib.table_names import ARTICLES_TABLE, DIGEST_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore
from prosora_pipelines.settings import SAMPLE_CATALOG

NOW = datetime(2026, 12, 6, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample_table() -> pl.DataFrame:
    built, _ = sample_articles()
    return articles_frame(built)


@pytest.fixture
def tables(tmp_path: Path, sample_table: pl.DataFrame) -> TableStore:
    store = TableStore(tmp_path / "home")
    store.write_table(ARTICLES_TABLE, sample_table)
    return store


def _refresh(tables: TableStore, day: date | None) -> pl.DataFrame:
    refresh = refresh_digest(
        tables, load_catalog(SAMPLE_CATALOG), ExtractiveSummarizer(), day=day, now=NOW, limit=4
    )
    return refresh.table


def test_the_default_day_is_the_newest_articles_and_remaking_a_day_replaces_only_it(
    tables: TableStore,
) -> None:
    first = _refresh(tables, None)
    assert first["digest_date"].unique().to_list() == [date(2026, 11, 20)]
    _refresh(tables, date(2026, 11, 17))
    both = tables.read_table(DIGEST_TABLE)
    assert both is not None
    again = _refresh(tables, date(2026, 11, 17))
    assert again.equals(both)
    assert digest_days(tables) == [date(2026, 11, 17), date(2026, 11, 20)]
    made = read_digest(tables, date(2026, 11, 17))
    assert made is not None and made.articles_published == 6
    assert made.stories["rank"].sort().to_list() == [1, 2, 3, 4]
    assert all(2 <= len(s.split(". ")) <= 4 for s in made.stories["summary"])
    assert all(len(c) >= 1 for c in made.stories["citations"].to_list())


def test_the_latest_digest_is_read_when_no_day_is_given(tables: TableStore) -> None:
    _refresh(tables, date(2026, 11, 17))
    _refresh(tables, date(2026, 11, 19))
    latest = read_digest(tables)
    assert latest is not None and latest.day == date(2026, 11, 19)


def test_an_empty_day_is_recorded_and_says_so(tables: TableStore) -> None:
    _refresh(tables, date(2026, 12, 1))
    made = read_digest(tables, date(2026, 12, 1))
    assert made is not None and made.is_empty and made.articles_published == 0
    assert "No articles were published on 2026-12-01." in digest_markdown(made)


def test_a_day_never_made_reads_as_none(tables: TableStore) -> None:
    assert read_digest(tables) is None
    _refresh(tables, date(2026, 11, 17))
    assert read_digest(tables, date(2026, 11, 18)) is None


def test_markdown_lists_stories_under_topics_with_their_sources(tables: TableStore) -> None:
    _refresh(tables, date(2026, 11, 17))
    made = read_digest(tables, date(2026, 11, 17))
    assert made is not None
    text = digest_markdown(made)
    assert text.startswith("# Daily digest, Tuesday 17 November 2026 (UTC)")
    assert "The 4 most important of 6 stories published that day." in text
    for row in made.stories.iter_rows(named=True):
        assert f"**{row['rank']}. {row['title']}**" in text
        assert f"## {row['topic']}" in text
    assert "covered by 2 sources" in text


def test_no_digest_before_the_articles_exist(tmp_path: Path) -> None:
    with pytest.raises(NotMaterializedError):
        refresh_digest(
            TableStore(tmp_path),
            load_catalog(SAMPLE_CATALOG),
            ExtractiveSummarizer(),
            day=None,
            now=NOW,
        )
