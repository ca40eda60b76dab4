"""Building, storing and reading daily digests.

The table holds one row per story of every digest made, keyed by its day: making a day's
digest again replaces that day's rows and nothing else. A document lists every day made,
with how many articles it had, so an empty day reads as "nothing was published" rather than
"no digest was made".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from prosora_pipelines.lib.digest.stories import (
    DigestWeights,
    Story,
    day_bounds,
    grouped,
    newest_day,
    rank_stories,
    trend_memberships,
)
from prosora_pipelines.lib.digest.summaries import Summarizer
from prosora_pipelines.lib.sources.catalog import Catalog
from prosora_pipelines.lib.table_names import (
    ARTICLES_TABLE,
    DIGEST_DAYS_DOCUMENT,
    DIGEST_TABLE,
    TREND_TOPICS_TABLE,
)
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore

_CITATION = pl.Struct({"source_id": pl.String(), "url": pl.String(), "title": pl.String()})
DIGEST_SCHEMA: dict[str, pl.DataType] = {
    "digest_date": pl.Date(),
    "rank": pl.Int64(),
    "topic": pl.String(),
    "article_id": pl.String(),
    "title": pl.String(),
    "url": pl.String(),
    "source_id": pl.String(),
    "tier": pl.String(),
    "credibility": pl.Float64(),
    "domains": pl.List(pl.String()),
    "published_at": pl.Datetime("us", "UTC"),
    "coverage_sources": pl.List(pl.String()),
    "coverage_tiers": pl.List(pl.String()),
    "trend_growth": pl.Float64(),
    "score": pl.Float64(),
    "coverage_score": pl.Float64(),
    "recency_score": pl.Float64(),
    "trend_score": pl.Float64(),
    "domain_score": pl.Float64(),
    "summary": pl.String(),
    "summary_method": pl.String(),
    "citations": pl.List(_CITATION),
    "generated_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class Digest:
    day: date
    articles_published: int
    """Canonical articles published that day, of which ``stories`` are the best."""
    stories: pl.DataFrame
    generated_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return self.stories.height == 0


@dataclass(frozen=True)
class DigestRefresh:
    digest: Digest
    table: pl.DataFrame
    table_path: str


def _row(rank: int, story: Story, summary: Any, day: date, now: datetime) -> dict[str, Any]:
    return {
        "digest_date": day,
        "rank": rank,
        "topic": story.group,
        "article_id": story.article_id,
        "title": story.title,
        "url": story.url,
        "source_id": story.source_id,
        "tier": story.tier,
        "credibility": story.credibility,
        "domains": list(story.domains),
        "published_at": story.published_at,
        "coverage_sources": list(story.coverage_sources),
        "coverage_tiers": list(story.coverage_tiers),
        "trend_growth": story.trend_growth,
        "score": story.score,
        "coverage_score": story.coverage_score,
        "recency_score": story.recency_score,
        "trend_score": story.trend_score,
        "domain_score": story.domain_score,
        "summary": summary.text,
        "summary_method": summary.method,
        "citations": [
            {"source_id": c.source_id, "url": c.url, "title": c.title} for c in story.citations
        ],
        "generated_at": now,
    }


def build_digest(
    articles: pl.DataFrame,
    topics: pl.DataFrame | None,
    catalog: Catalog,
    day: date,
    summarizer: Summarizer,
    *,
    now: datetime,
    limit: int = 10,
    weights: DigestWeights | None = None,
) -> Digest:
    """The digest of ``day``: its best stories, grouped by topic (rows in group order)."""
    ranked, published = rank_stories(
        articles, day, catalog, trend_memberships(topics), weights=weights, limit=limit
    )
    rank_of = {story.article_id: rank for rank, story in enumerate(ranked, start=1)}
    rows = [
        _row(
            rank_of[story.article_id],
            story,
            summarizer.summarize(story.title, story.text, story.evidence_texts),
            day,
            now,
        )
        for _, stories in grouped(ranked)
        for story in stories
    ]
    return Digest(day, published, pl.DataFrame(rows, schema=DIGEST_SCHEMA), now)


def refresh_digest(
    tables: TableStore,
    catalog: Catalog,
    summarizer: Summarizer,
    *,
    day: date | None,
    now: datetime,
    limit: int = 10,
) -> DigestRefresh:
    """Make and store the digest of ``day`` (default: the newest article's day, else the
    day of ``now``), replacing that day's earlier digest. ``NotMaterializedError`` before
    the articles exist."""
    articles = tables.read_table(ARTICLES_TABLE)
    if articles is None:
        raise NotMaterializedError("articles has not been materialized yet")
    chosen = day or newest_day(articles) or now.astimezone(UTC).date()
    digest = build_digest(
        articles,
        tables.read_table(TREND_TOPICS_TABLE),
        catalog,
        chosen,
        summarizer,
        now=now,
        limit=limit,
    )
    with tables.lock(DIGEST_TABLE):
        stored = tables.read_table(DIGEST_TABLE)
        kept = (
            stored.filter(pl.col("digest_date") != chosen)
            if stored is not None
            else pl.DataFrame(schema=DIGEST_SCHEMA)
        )
        table = pl.concat([kept, digest.stories]).sort("digest_date", maintain_order=True)
        path = tables.write_table(DIGEST_TABLE, table)
        days = tables.read_document(DIGEST_DAYS_DOCUMENT) or {}
        days[chosen.isoformat()] = {
            "articles_published": digest.articles_published,
            "stories": digest.stories.height,
            "generated_at": now.isoformat(),
        }
        tables.write_document(DIGEST_DAYS_DOCUMENT, days)
    return DigestRefresh(digest=digest, table=table, table_path=path)


def digest_days(tables: TableStore) -> list[date]:
    """Every day a digest was made for, oldest first."""
    return sorted(
        date.fromisoformat(day) for day in tables.read_document(DIGEST_DAYS_DOCUMENT) or {}
    )


def read_digest(tables: TableStore, day: date | None = None) -> Digest | None:
    """The stored digest of ``day`` (default: the latest day made), or None if none was."""
    days = tables.read_document(DIGEST_DAYS_DOCUMENT) or {}
    if not days:
        return None
    chosen = day or max(date.fromisoformat(key) for key in days)
    made = days.get(chosen.isoformat())
    if made is None:
        return None
    stored = tables.read_table(DIGEST_TABLE)
    stories = (
        stored.filter(pl.col("digest_date") == chosen)
        if stored is not None
        else pl.DataFrame(schema=DIGEST_SCHEMA)
    )
    return Digest(
        day=chosen,
        articles_published=made["articles_published"],
        stories=stories,
        generated_at=datetime.fromisoformat(made["generated_at"]),
    )


def digest_markdown(digest: Digest) -> str:
    """The digest as a person reads it: stories under their topics, with their sources."""
    start, _ = day_bounds(digest.day)
    heading = f"# Daily digest, {start:%A %d %B %Y} (UTC)"
    if digest.is_empty:
        return f"{heading}\n\nNo articles were published on {digest.day.isoformat()}."
    shown, published = digest.stories.height, digest.articles_published
    lines = [
        heading,
        "",
        f"The {shown} most important of {published} stories published that day."
        if shown < published
        else f"All {published} stories published that day, most important first.",
    ]
    topic = None
    for row in digest.stories.iter_rows(named=True):
        if row["topic"] != topic:
            topic = row["topic"]
            lines += ["", f"## {topic}"]
        covered = len(row["coverage_sources"])
        sources = ", ".join(f"[{c['source_id']}]({c['url']})" for c in row["citations"])
        lines += [
            "",
            f"**{row['rank']}. {row['title']}** — {row['source_id']} ({row['tier']}), "
            f"{row['published_at']:%H:%M} UTC"
            + (f", covered by {covered} sources" if covered > 1 else ""),
            "",
            row["summary"],
            "",
            f"Sources: {sources}",
        ]
    return "\n".join(lines)
