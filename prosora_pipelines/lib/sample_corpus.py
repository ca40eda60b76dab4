"""The bundled sample corpus: ingested through the library without Dagster, and its
hand-written ground truth (``catalogs/sample/truth/*.yaml``: every article, the duplicates,
and labelled queries).

Tests check the pipelines against the truth, and the benchmarks measure on the same corpus
and queries; both take them from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import yaml

from prosora_pipelines.lib.articles.building import Article, build_articles
from prosora_pipelines.lib.articles.canonical_url import canonicalize_url
from prosora_pipelines.lib.articles.dedup import DedupReport, deduplicate
from prosora_pipelines.lib.sources.catalog import load_catalog
from prosora_pipelines.lib.sources.fetching import Fetcher, FetchPolicy
from prosora_pipelines.lib.sources.ingestion import IngestResult, ingest_sources
from prosora_pipelines.settings import (
    BUNDLED_CATALOGS_DIR,
    DEFAULT_EARLIEST_PLAUSIBLE_DATE,
    SAMPLE_CATALOG,
)

SAMPLE_FETCHED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TRUTH_DIR = BUNDLED_CATALOGS_DIR / "sample" / "truth"


def ingest_sample() -> IngestResult:
    catalog = load_catalog(SAMPLE_CATALOG)
    return asyncio.run(
        ingest_sources(
            catalog.sources,
            fetcher=Fetcher(FetchPolicy()),
            validators={},
            run_id="sample",
            fetched_at=SAMPLE_FETCHED_AT,
            allowed_skew=timedelta(hours=2),
        )
    )


def sample_articles() -> tuple[list[Article], DedupReport]:
    catalog = load_catalog(SAMPLE_CATALOG)
    result = ingest_sample()
    built = build_articles(
        result.entries,
        {s.id: s for s in catalog.sources},
        earliest_published=DEFAULT_EARLIEST_PLAUSIBLE_DATE,
    )
    return deduplicate(built.articles, threshold=0.7)


@dataclass(frozen=True)
class TruthArticle:
    url: str
    source: str
    title: str
    published: date | None
    topics: tuple[str, ...]
    no_link: bool


@dataclass(frozen=True)
class SampleTruth:
    articles: list[TruthArticle]
    exact_duplicates: list[list[str]]
    near_duplicates: list[list[str]]
    queries: list[dict[str, Any]]


def load_sample_truth() -> SampleTruth:
    articles: list[TruthArticle] = []
    exact: list[list[str]] = []
    near: list[list[str]] = []
    queries: list[dict[str, Any]] = []
    for path in sorted(TRUTH_DIR.glob("part*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in raw["articles"]:
            articles.append(
                TruthArticle(
                    url=item["url"],
                    source=item["source"],
                    title=item["title"],
                    published=item.get("published"),
                    topics=tuple(item.get("topics") or ()),
                    no_link=bool(item.get("no_link")),
                )
            )
        exact.extend(raw.get("exact_duplicates") or [])
        near.extend(raw.get("near_duplicates") or [])
        queries.extend(raw.get("queries") or [])
    return SampleTruth(articles, exact, near, queries)


def story_ids_by_url(articles: Sequence[Article]) -> dict[str, str]:
    """Every URL (canonicalized) and GUID of ``articles`` to the id of its story's canonical
    article, the id the index holds for it."""
    ids: dict[str, str] = {}
    for article in articles:
        story = article.duplicate_of or article.id
        for url in [article.canonical_url, *article.also_published_urls]:
            ids[canonicalize_url(url)] = story
        if article.guid:
            ids[article.guid] = story
    return ids


def sample_retrieval_set() -> tuple[list[tuple[str, frozenset[str]]], dict[str, str]]:
    """The sample's labelled queries with the story ids that answer each, and every story's
    title and text by id: a fixed retrieval check that needs no index."""
    articles, _ = sample_articles()
    ids = story_ids_by_url(articles)
    documents = {
        article.id: f"{article.title}. {article.text}"
        for article in articles
        if article.duplicate_of is None
    }
    queries = [
        (
            str(labelled["q"]),
            frozenset(
                ids[canonicalize_url(url)] if "://" in url else ids[url]
                for url in labelled["relevant"]
            ),
        )
        for labelled in load_sample_truth().queries
    ]
    return queries, documents
