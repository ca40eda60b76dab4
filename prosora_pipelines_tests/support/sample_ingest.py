"""Ingest the bundled sample catalog through the library, without Dagster."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prosora_pipelines.lib.articles import Article, build_articles
from prosora_pipelines.lib.catalog import load_catalog
from prosora_pipelines.lib.dedup import DedupReport, deduplicate
from prosora_pipelines.lib.fetching import Fetcher, FetchPolicy
from prosora_pipelines.lib.ingestion import IngestResult, ingest_sources
from prosora_pipelines.settings import SAMPLE_CATALOG, get_settings

SAMPLE_FETCHED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


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
        earliest_published=get_settings().earliest_plausible_date,
    )
    return deduplicate(built.articles, threshold=0.7)
