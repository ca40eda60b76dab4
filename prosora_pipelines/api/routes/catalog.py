"""The source catalog with its health, and the trends, as the pipelines last materialized them."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from prosora_pipelines.api.errors import UNAVAILABLE_RESPONSES, ApiError
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.security import Context, CurrentCaller
from prosora_pipelines.lib.sources.catalog import CatalogError, load_catalog
from prosora_pipelines.lib.table_names import (
    MEGATRENDS_TABLE,
    SOURCE_HEALTH_TABLE,
    TREND_TOPICS_TABLE,
)

router = APIRouter(prefix=API_PREFIX, tags=["catalog"], responses=UNAVAILABLE_RESPONSES)


class SourceOut(BaseModel):
    id: str
    name: str
    kind: str
    tier: str
    credibility: float
    domains: list[str]
    enabled: bool
    fetches: int | None = None
    failures: int | None = None
    consecutive_failures: int | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_items: int | None = None
    items_per_fetch: float | None = None


class DomainCount(BaseModel):
    domain: str
    articles: int


class TopicOut(BaseModel):
    label: str
    label_terms: list[str]
    recent_articles: int
    previous_articles: int
    growth: float | None
    top_domains: list[DomainCount]
    example_titles: list[str]
    article_ids: list[str]


class MegatrendOut(BaseModel):
    name: str
    recent_matches: int
    previous_matches: int
    recent_share: float
    previous_share: float
    share_change: float | None


class TrendsOut(BaseModel):
    recent_from: datetime | None
    recent_until: datetime | None
    topics: list[TopicOut]
    megatrends: list[MegatrendOut]


@router.get("/sources", response_model=list[SourceOut], summary="The catalog with source health")
def sources(context: Context, _caller: CurrentCaller) -> list[SourceOut]:
    try:
        catalog = load_catalog(context.settings.catalog)
    except CatalogError as error:
        raise ApiError(503, f"the source catalog is invalid: {error}") from None
    health = context.tables.read_table(SOURCE_HEALTH_TABLE)
    by_id = {row["source_id"]: row for row in health.to_dicts()} if health is not None else {}
    return [
        SourceOut(
            id=source.id,
            name=source.name,
            kind=source.kind.value,
            tier=source.tier.value,
            credibility=source.credibility,
            domains=list(source.domains),
            enabled=source.enabled,
            **{
                field: by_id.get(source.id, {}).get(field)
                for field in (
                    "fetches",
                    "failures",
                    "consecutive_failures",
                    "last_success_at",
                    "last_error",
                    "last_items",
                    "items_per_fetch",
                )
            },
        )
        for source in catalog.sources
    ]


@router.get("/trends", response_model=TrendsOut, summary="Trending topics and megatrends")
def trends(context: Context, _caller: CurrentCaller) -> TrendsOut:
    topics = context.tables.read_table(TREND_TOPICS_TABLE)
    megatrends = context.tables.read_table(MEGATRENDS_TABLE)
    if topics is None or megatrends is None:
        raise ApiError(503, "trends have not been materialized yet: materialize trends")
    topic_rows = topics.to_dicts()
    window = topic_rows[0] if topic_rows else (megatrends.to_dicts() or [{}])[0]
    return TrendsOut(
        recent_from=window.get("recent_from"),
        recent_until=window.get("recent_until"),
        topics=[TopicOut.model_validate(row) for row in topic_rows],
        megatrends=[MegatrendOut.model_validate(row) for row in megatrends.to_dicts()],
    )
