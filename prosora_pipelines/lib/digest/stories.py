"""Choosing, ranking and grouping the day's stories.

A digest covers one calendar day in UTC. A story is a canonical article published that day;
its syndicated copies are its citations. Each story gets five scores from 0 to 1:

- **coverage**: how many sources carried it and across how many tiers,
  ``0.75 × (1 - 0.5 ** (sources - 1)) + 0.25 × (tiers - 1) / 2``: a second source counts
  most, each further one half as much again;
- **credibility** of its canonical source (the most credible copy, see dedup);
- **recency**: ``0.5 ** (hours from publication to the end of the day / 24)``;
- **trend**: the growth of the trend topic it belongs to, as ``growth / (1 + growth)`` (0
  for a shrinking topic or none), so a story in a fast-growing topic rises;
- **domain**: how central its domains are to the catalog, the share of enabled sources
  covering its most covered domain, relative to the catalog's most covered domain.

The score is a weighted sum (:class:`DigestWeights`). The weights are an editorial order of
importance (coverage first, then credibility and trend growth), not fitted to any data.
Stories are grouped under their trend topic's label, or their first domain when no topic
holds them; groups follow their best story.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from prosora_pipelines.lib.sources.catalog import Catalog


@dataclass(frozen=True)
class DigestWeights:
    coverage: float = 0.35
    credibility: float = 0.2
    recency: float = 0.1
    trend: float = 0.2
    domain: float = 0.15


@dataclass(frozen=True)
class TopicMembership:
    """The trend topic an article belongs to."""

    label: str
    growth: float


@dataclass(frozen=True)
class Citation:
    source_id: str
    url: str
    title: str


@dataclass(frozen=True)
class Story:
    article_id: str
    title: str
    url: str
    source_id: str
    tier: str
    credibility: float
    domains: tuple[str, ...]
    published_at: datetime
    coverage_sources: tuple[str, ...]
    coverage_tiers: tuple[str, ...]
    group: str
    trend_growth: float | None
    coverage_score: float
    recency_score: float
    trend_score: float
    domain_score: float
    score: float
    text: str
    citations: tuple[Citation, ...]
    evidence_texts: tuple[str, ...]
    """The texts of every copy, what a summary may say."""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The digest's window ``[start, end)``: the calendar day in UTC."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def newest_day(articles: pl.DataFrame) -> date | None:
    """The UTC day of the newest dated canonical article: the corpus's "today"."""
    dated = articles.filter(pl.col("duplicate_of").is_null() & pl.col("published_at").is_not_null())
    if dated.height == 0:
        return None
    newest: datetime = dated["published_at"].max()  # type: ignore[assignment]
    return newest.astimezone(UTC).date()


def trend_memberships(topics: pl.DataFrame | None) -> dict[str, TopicMembership]:
    """Article id to the trend topic holding it, from the stored topics table."""
    if topics is None:
        return {}
    return {
        article_id: TopicMembership(label=row["label"], growth=row["growth"])
        for row in topics.iter_rows(named=True)
        for article_id in row["article_ids"]
    }


def domain_weights(catalog: Catalog) -> dict[str, float]:
    """Each domain's share of the enabled sources, relative to the most covered domain."""
    counts = Counter(domain for source in catalog.enabled_sources for domain in source.domains)
    if not counts:
        return {}
    most = max(counts.values())
    return {domain: count / most for domain, count in counts.items()}


def coverage_score(sources: int, tiers: int) -> float:
    return 0.75 * (1 - 0.5 ** (max(sources, 1) - 1)) + 0.25 * (min(max(tiers, 1), 3) - 1) / 2


def trend_score(growth: float | None) -> float:
    return 0.0 if growth is None or growth <= 0 else growth / (1 + growth)


def _citations(row: Mapping[str, Any], copies: Sequence[Mapping[str, Any]]) -> tuple[Citation, ...]:
    seen: set[str] = set()
    citations = []
    for item in (row, *sorted(copies, key=lambda copy: (copy["source_id"], copy["url"] or ""))):
        url = item["url"] or item["canonical_url"]
        if url and url not in seen:
            seen.add(url)
            citations.append(Citation(item["source_id"], url, item["title"] or ""))
    return tuple(citations)


def rank_stories(
    articles: pl.DataFrame,
    day: date,
    catalog: Catalog,
    memberships: Mapping[str, TopicMembership],
    *,
    weights: DigestWeights | None = None,
    limit: int = 10,
) -> tuple[list[Story], int]:
    """The ``limit`` best stories published on ``day`` and how many canonical articles were
    published that day, stories in rank order."""
    weights = weights or DigestWeights()
    start, end = day_bounds(day)
    in_day = (pl.col("published_at") >= start) & (pl.col("published_at") < end)
    canonical = articles.filter(pl.col("duplicate_of").is_null() & in_day).sort("id")
    copies: dict[str, list[dict[str, Any]]] = {}
    for copy in articles.filter(pl.col("duplicate_of").is_in(canonical["id"].to_list())).iter_rows(
        named=True
    ):
        copies.setdefault(copy["duplicate_of"], []).append(copy)
    centrality = domain_weights(catalog)
    stories = []
    for row in canonical.iter_rows(named=True):
        membership = memberships.get(row["id"])
        domains = tuple(row["domains"] or ())
        published: datetime = row["published_at"]
        components = {
            "coverage": coverage_score(
                len(set(row["coverage_sources"] or [row["source_id"]])),
                len(set(row["coverage_tiers"] or [row["tier"]])),
            ),
            "credibility": float(row["credibility"]),
            "recency": 0.5 ** ((end - published).total_seconds() / 3600 / 24),
            "trend": trend_score(membership.growth if membership else None),
            "domain": max((centrality.get(domain, 0.0) for domain in domains), default=0.0),
        }
        score = sum(getattr(weights, name) * value for name, value in components.items())
        own_copies = copies.get(row["id"], [])
        stories.append(
            Story(
                article_id=row["id"],
                title=row["title"] or "",
                url=row["url"] or row["canonical_url"] or "",
                source_id=row["source_id"],
                tier=row["tier"],
                credibility=float(row["credibility"]),
                domains=domains,
                published_at=published,
                coverage_sources=tuple(row["coverage_sources"] or [row["source_id"]]),
                coverage_tiers=tuple(row["coverage_tiers"] or [row["tier"]]),
                group=membership.label if membership else (domains[0] if domains else "other"),
                trend_growth=membership.growth if membership else None,
                coverage_score=components["coverage"],
                recency_score=components["recency"],
                trend_score=components["trend"],
                domain_score=components["domain"],
                score=score,
                text=row["text"] or row["summary"] or "",
                citations=_citations(row, own_copies),
                evidence_texts=tuple(
                    "\n".join(filter(None, (item["title"], item["text"] or item["summary"])))
                    for item in (row, *own_copies)
                ),
            )
        )
    stories.sort(key=lambda story: (-story.score, story.published_at, story.article_id))
    return stories[:limit], canonical.height


def grouped(stories: Sequence[Story]) -> list[tuple[str, list[Story]]]:
    """Stories (in rank order) under their groups, each group placed by its best story."""
    groups: dict[str, list[Story]] = {}
    for story in stories:
        groups.setdefault(story.group, []).append(story)
    return list(groups.items())
