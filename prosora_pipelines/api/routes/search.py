"""Article search and article reads over the materialized index and articles table."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from prosora_pipelines.api.errors import UNAVAILABLE_RESPONSES, ApiError, check_time
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.security import Context, CurrentCaller
from prosora_pipelines.lib.appdb.date_times import DATE_TIME_TEXT
from prosora_pipelines.lib.index.search import (
    ArticleHit,
    SearchFilters,
    SearchMode,
    search_articles,
)
from prosora_pipelines.lib.index.vector_store import IndexUnavailableError
from prosora_pipelines.lib.table_names import ARTICLES_TABLE

router = APIRouter(prefix=API_PREFIX, tags=["articles"], responses=UNAVAILABLE_RESPONSES)
MAX_K = 50
MAX_QUERY_CHARACTERS = 500


def _shown(hit: ArticleHit) -> ArticleHit:
    """``hit`` with its figures to four decimals, as the API shows them."""
    return hit.model_copy(
        update={
            "credibility": round(hit.credibility, 4),
            "score": round(hit.score, 4),
            "components": {name: round(value, 4) for name, value in hit.components.items()},
        }
    )


class SearchResults(BaseModel):
    query: str
    mode: SearchMode
    hits: list[ArticleHit]
    took_ms: float


class Article(BaseModel):
    id: str
    title: str
    url: str
    source_id: str
    tier: str | None = None
    published_at: datetime | None
    text: str
    coverage_sources: list[str] = []
    duplicate_of: str | None = None


@router.get("/search", response_model=SearchResults, summary="Hybrid search over articles")
def search(
    context: Context,
    _caller: CurrentCaller,
    q: Annotated[
        str,
        Query(min_length=1, max_length=MAX_QUERY_CHARACTERS, examples=["AI regulation fintech"]),
    ],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    mode: SearchMode = SearchMode.HYBRID,
    source: Annotated[list[str] | None, Query(max_length=50)] = None,
    tier: Annotated[list[str] | None, Query(max_length=3)] = None,
    domain: Annotated[list[str] | None, Query(max_length=20)] = None,
    since: Annotated[
        Annotated[datetime, DATE_TIME_TEXT] | None,
        Query(description="Published at or after this time."),
    ] = None,
    until: Annotated[
        Annotated[datetime, DATE_TIME_TEXT] | None,
        Query(description="Published before this time; not after `since` means no hits."),
    ] = None,
) -> SearchResults:
    check_time("since", since)
    check_time("until", until)
    try:
        engine = context.query_engine()
        started = time.perf_counter()
        table, _ = engine.index.table()
    except IndexUnavailableError as error:
        raise ApiError(503, str(error)) from None
    vector = engine.embedder.encode_query(q) if mode != SearchMode.FULL_TEXT else None
    hits = search_articles(
        table,
        q,
        vector,
        k=k,
        mode=mode,
        filters=SearchFilters(
            sources=tuple(source or ()),
            tiers=tuple(tier or ()),
            domains=tuple(domain or ()),
            since=since,
            until=until,
        ),
    )
    took = time.perf_counter() - started
    context.metrics.retrieval_seconds.labels("search").observe(took)
    return SearchResults(
        query=q, mode=mode, hits=[_shown(hit) for hit in hits], took_ms=round(took * 1000, 2)
    )


@router.get(
    "/articles/{article_id}",
    response_model=Article,
    summary="One article as materialized",
    responses={404: {"description": "No such article"}},
)
def article(article_id: str, context: Context, _caller: CurrentCaller) -> Article:
    import polars as pl

    frame = context.tables.read_table(ARTICLES_TABLE)
    rows: list[dict[str, Any]] = (
        frame.filter(pl.col("id") == article_id).to_dicts() if frame is not None else []
    )
    if not rows:
        raise ApiError(404, f"article {article_id} does not exist")
    row = rows[0]
    return Article(
        id=row["id"],
        title=row["title"],
        url=row["url"],
        source_id=row["source_id"],
        tier=row.get("tier"),
        published_at=row.get("published_at"),
        text=row["text"],
        coverage_sources=list(row.get("coverage_sources") or []),
        duplicate_of=row.get("duplicate_of"),
    )
