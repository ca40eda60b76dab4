"""The daily digest as the pipelines last made it for a day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from prosora_pipelines.api.errors import UNAVAILABLE_RESPONSES, ApiError, ErrorEnvelope
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.security import Context, CurrentCaller
from prosora_pipelines.lib.digest.store import digest_days, digest_markdown, read_digest

router = APIRouter(prefix=API_PREFIX, tags=["digest"], responses=UNAVAILABLE_RESPONSES)


class DigestCitationOut(BaseModel):
    source_id: str
    url: str
    title: str


class DigestStoryOut(BaseModel):
    rank: int
    article_id: str
    title: str
    url: str
    source_id: str
    tier: str
    credibility: float
    domains: list[str]
    published_at: dt.datetime
    coverage_sources: list[str]
    coverage_tiers: list[str]
    trend_growth: float | None
    score: float
    summary: str
    summary_method: str
    citations: list[DigestCitationOut]


class DigestTopicOut(BaseModel):
    topic: str
    stories: list[DigestStoryOut]


class DigestOut(BaseModel):
    date: dt.date
    articles_published: int
    generated_at: dt.datetime | None
    message: str | None
    """Why there are no stories, on an empty day."""
    topics: list[DigestTopicOut]
    markdown: str
    days_available: list[dt.date]


@router.get(
    "/digest",
    response_model=DigestOut,
    summary="The daily digest: the day's most important stories, summarized and cited",
    responses={404: {"model": ErrorEnvelope, "description": "No digest was made for that day"}},
)
def digest(
    context: Context,
    _caller: CurrentCaller,
    date: Annotated[
        dt.date | None, Query(description="The UTC day (YYYY-MM-DD); the latest digest if left out")
    ] = None,
) -> DigestOut:
    made = read_digest(context.tables, date)
    days = digest_days(context.tables)
    if made is None:
        if not days:
            raise ApiError(404, "no digest has been made yet: materialize daily_digest")
        raise ApiError(
            404,
            f"no digest was made for {date}; digests exist for "
            f"{', '.join(day.isoformat() for day in days[-7:])}"
            + (" (latest 7)" if len(days) > 7 else "")
            + f"; materialize daily_digest with date {date} to make one",
        )
    topics: dict[str, list[DigestStoryOut]] = {}
    for row in made.stories.iter_rows(named=True):
        topics.setdefault(row["topic"], []).append(DigestStoryOut.model_validate(row))
    return DigestOut(
        date=made.day,
        articles_published=made.articles_published,
        generated_at=made.generated_at,
        message=f"no articles were published on {made.day}" if made.is_empty else None,
        topics=[DigestTopicOut(topic=name, stories=stories) for name, stories in topics.items()],
        markdown=digest_markdown(made),
        days_available=days,
    )
