from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from prosora_pipelines.lib.articles.building import ARTICLE_SCHEMA
from prosora_pipelines.lib.digest.stories import (
    TopicMembership,
    coverage_score,
    domain_weights,
    grouped,
    newest_day,
    rank_stories,
    trend_score,
)
from prosora_pipelines.lib.sources.catalog import Catalog

DAY = date(2026, 11, 17)
CATALOG = Catalog.model_validate(
    {
        "sources": [
            {"id": "a", "name": "A", "url": "https://a.example/feed", "kind": "rss",
             "tier": "premium", "credibility": 0.9, "domains": ["finance", "ai"]},
            {"id": "b", "name": "B", "url": "https://b.example/feed", "kind": "rss",
             "tier": "standard", "credibility": 0.6, "domains": ["finance"]},
            {"id": "c", "name": "C", "url": "https://c.example/feed", "kind": "rss",
             "tier": "experimental", "credibility": 0.4, "domains": ["gardening"]},
            {"id": "d", "name": "D", "url": "https://d.example/feed", "kind": "rss",
             "tier": "standard", "credibility": 0.5, "domains": ["finance"], "enabled": False},
        ]
    }
)  # fmt: skip


def _article(
    article_id: str, source: str, published: datetime | None, **extra: Any
) -> dict[str, Any]:
    tiers = {"a": "premium", "b": "standard", "c": "experimental"}
    credibility = {"a": 0.9, "b": 0.6, "c": 0.4}
    row: dict[str, Any] = {name: None for name in ARTICLE_SCHEMA}
    row |= {
        "id": article_id,
        "source_id": source,
        "url": f"https://{source}.example/{article_id}",
        "canonical_url": f"https://{source}.example/{article_id}",
        "title": f"Story {article_id}",
        "text": f"Text of {article_id}.",
        "published_at": published,
        "tier": tiers[source],
        "credibility": credibility[source],
        "domains": ["gardening"] if source == "c" else ["finance"],
        "coverage_sources": [source],
        "coverage_tiers": [tiers[source]],
    }
    return row | extra


def _frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ARTICLE_SCHEMA)


ARTICLES = _frame(
    _article("single", "b", datetime(2026, 11, 17, 9, tzinfo=UTC)),
    _article(
        "covered",
        "a",
        datetime(2026, 11, 17, 8, tzinfo=UTC),
        coverage_sources=["a", "b", "c"],
        coverage_tiers=["premium", "standard", "experimental"],
    ),
    _article("copy-b", "b", datetime(2026, 11, 17, 10, tzinfo=UTC), duplicate_of="covered"),
    _article("copy-c", "c", datetime(2026, 11, 17, 11, tzinfo=UTC), duplicate_of="covered"),
    _article("garden", "c", datetime(2026, 11, 17, 23, tzinfo=UTC)),
    _article("yesterday", "a", datetime(2026, 11, 16, 23, 59, tzinfo=UTC)),
    _article("tomorrow", "a", datetime(2026, 11, 18, 0, 0, tzinfo=UTC)),
    _article("undated", "a", None),
)


def test_a_story_covered_across_sources_and_tiers_leads_and_cites_every_copy() -> None:
    stories, published = rank_stories(ARTICLES, DAY, CATALOG, {})
    assert published == 3
    assert [story.article_id for story in stories] == ["covered", "single", "garden"]
    lead = stories[0]
    assert [(c.source_id, c.url) for c in lead.citations] == [
        ("a", "https://a.example/covered"),
        ("b", "https://b.example/copy-b"),
        ("c", "https://c.example/copy-c"),
    ]
    assert len(lead.evidence_texts) == 3


def test_the_day_is_the_utc_calendar_day_and_the_limit_keeps_the_best() -> None:
    stories, published = rank_stories(ARTICLES, date(2026, 11, 18), CATALOG, {}, limit=5)
    assert ([s.article_id for s in stories], published) == (["tomorrow"], 1)
    best, published = rank_stories(ARTICLES, DAY, CATALOG, {}, limit=1)
    assert ([s.article_id for s in best], published) == (["covered"], 3)
    assert rank_stories(ARTICLES, date(2026, 12, 1), CATALOG, {}) == ([], 0)


def test_a_growing_trend_lifts_a_story_and_names_its_group() -> None:
    memberships = {"garden": TopicMembership(label="soil, compost", growth=5.0)}
    plain = {s.article_id: s for s in rank_stories(ARTICLES, DAY, CATALOG, {})[0]}
    trending = {s.article_id: s for s in rank_stories(ARTICLES, DAY, CATALOG, memberships)[0]}
    assert trending["garden"].score > plain["garden"].score
    assert trending["garden"].group == "soil, compost"
    assert plain["garden"].group == "gardening"
    assert trending["single"].score == plain["single"].score


def test_domains_of_more_enabled_sources_weigh_more() -> None:
    # finance: a and b (d is disabled); ai and gardening: one source each.
    assert domain_weights(CATALOG) == {"finance": 1.0, "ai": 0.5, "gardening": 0.5}


def test_score_components_are_bounded_and_monotone() -> None:
    assert coverage_score(1, 1) == 0
    assert coverage_score(2, 1) < coverage_score(3, 1) < coverage_score(3, 3) <= 1
    assert trend_score(None) == trend_score(-0.5) == trend_score(0) == 0
    assert 0 < trend_score(0.5) < trend_score(5) < 1


def test_groups_follow_their_best_story() -> None:
    memberships = {
        "single": TopicMembership("t1", 0.0),
        "garden": TopicMembership("t1", 0.0),
        "covered": TopicMembership("t2", 0.0),
    }
    stories, _ = rank_stories(ARTICLES, DAY, CATALOG, memberships)
    assert [(name, [s.article_id for s in members]) for name, members in grouped(stories)] == [
        ("t2", ["covered"]),
        ("t1", ["single", "garden"]),
    ]


def test_the_newest_day_ignores_duplicates_and_undated_articles() -> None:
    assert newest_day(ARTICLES) == date(2026, 11, 18)
    assert newest_day(_frame(_article("undated", "a", None))) is None
