"""Articles from a folder of saved feed documents, built the way ingestion builds them.

Search quality is measured on real feeds saved as files (one source per file): each file is
parsed with :func:`parse_feed`, its entries become articles with :func:`build_articles` and
near-duplicates are folded with :func:`deduplicate`, so article ids, texts and titles are
exactly the ones the product would index. Every source gets the same tier and credibility:
the files carry no editorial judgement, and a relevance measurement must not smuggle one in.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from prosora_pipelines.lib.articles.building import articles_frame, build_articles
from prosora_pipelines.lib.articles.dedup import deduplicate
from prosora_pipelines.lib.sources.catalog import Source, SourceKind, Tier
from prosora_pipelines.lib.sources.feed_parsing import parse_feed

FOLDER_CREDIBILITY = 0.7
FOLDER_DOMAIN = "general"
FOLDER_EARLIEST_PUBLISHED = date(1990, 1, 1)
FOLDER_DUPLICATE_THRESHOLD = 0.7
FOLDER_FETCHED_AT = datetime(2026, 3, 1, tzinfo=UTC)
"""When the shared real feeds were saved (their newest entries are of February 2026): a
fixed moment, so the articles, and recency relative to it, do not depend on today."""


def source_id_for(path: Path) -> str:
    """The source id of a saved feed file: its name as a lower-case slug."""
    return re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-")[:64]


def feed_folder_articles(folder: Path, *, fetched_at: datetime = FOLDER_FETCHED_AT) -> pl.DataFrame:
    """The canonical articles of every ``*.xml`` feed document in ``folder``, by file name.

    ``fetched_at`` stands for when the files were fetched (it bounds future dates).
    """
    paths = sorted(folder.glob("*.xml"))
    if not paths:
        raise FileNotFoundError(f"no *.xml feed documents in {folder}")
    sources: dict[str, Source] = {}
    entries = []
    for path in paths:
        source = Source(
            id=source_id_for(path),
            name=path.stem,
            url=path.resolve().as_uri(),
            kind=SourceKind.RSS,
            tier=Tier.STANDARD,
            credibility=FOLDER_CREDIBILITY,
            domains=(FOLDER_DOMAIN,),
        )
        sources[source.id] = source
        parsed = parse_feed(
            path.read_bytes(),
            source_id=source.id,
            url=source.url,
            fetched_at=fetched_at,
            allowed_skew=timedelta(hours=2),
        )
        entries.extend(parsed.entries)
    built = build_articles(entries, sources, earliest_published=FOLDER_EARLIEST_PUBLISHED)
    canonical, _ = deduplicate(built.articles, FOLDER_DUPLICATE_THRESHOLD)
    frame = articles_frame(canonical)
    return frame.filter(pl.col("duplicate_of").is_null()).sort("id")
