"""Engagement feedback in (one post, or a CSV export), and what it says back out: how the
predictions fared, and the learning patterns in force."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from prosora_pipelines.api.errors import UNAVAILABLE_RESPONSES, ApiError
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.security import Context, CurrentCaller, user_of
from prosora_pipelines.lib.appdb.repository import (
    FeedbackRecord,
    active_learning_patterns,
    record_feedback,
)
from prosora_pipelines.lib.engagement.feedback_import import (
    MAX_ROWS,
    FeedbackImportError,
    import_feedback,
)
from prosora_pipelines.lib.engagement.performance_analytics import performance_report

router = APIRouter(
    prefix=API_PREFIX, tags=["feedback and learning"], responses=UNAVAILABLE_RESPONSES
)


class FeedbackOut(BaseModel):
    id: uuid.UUID
    variant_id: uuid.UUID
    platform: str
    posted_at: datetime
    impressions: int
    reactions: int
    comments: int
    shares: int
    clicks: int
    engagement_rate: float | None
    recorded_at: datetime


class ImportOut(BaseModel):
    created: int
    updated: int


class CalibrationBinOut(BaseModel):
    lower: float
    upper: float
    count: int
    mean_predicted: float
    mean_actual: float


class AccuracyOut(BaseModel):
    count: int
    mean_absolute_error: float | None
    bias: float | None
    rmse: float | None
    calibration: list[CalibrationBinOut]


class PerformanceOut(BaseModel):
    """Predicted engagement against what posts earned (the latest feedback per variant)."""

    overall: AccuracyOut
    by_format: dict[str, AccuracyOut]
    by_predictor: dict[str, AccuracyOut]


class PatternOut(BaseModel):
    id: uuid.UUID
    scope: str
    pattern_type: str
    pattern_data: dict[str, Any]
    confidence: float
    usage_count: int
    updated_at: datetime


@router.post(
    "/variants/{variant_id:uuid}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    summary="Record what a posted variant earned",
    responses={404: {"description": "No such variant of yours"}},
)
def add_feedback(
    variant_id: uuid.UUID, feedback: FeedbackRecord, context: Context, caller: CurrentCaller
) -> FeedbackOut:
    with context.sessions.begin() as session:
        row = record_feedback(session, user_of(session, caller), variant_id, feedback)
        return FeedbackOut.model_validate(row, from_attributes=True)


@router.post(
    "/feedback/import",
    response_model=ImportOut,
    summary="Import engagement figures from a CSV file (all rows or none)",
    description=(
        "Columns (header names are matched ignoring case and spaces; platform exports' "
        "names are accepted as aliases): `variant_id`, `platform`, `posted_at` (ISO 8601 "
        "with a timezone), `impressions`, `reactions`, `comments`, `shares`, optional "
        "`clicks`. A post written outside Prosora leaves `variant_id` empty and gives its "
        "`text` and `format` instead, so its engagement is learned from too. "
        f"At most {MAX_ROWS} rows. A file with any error imports nothing and the "
        "answer lists every error with its line number."
    ),
)
async def import_csv(file: UploadFile, context: Context, caller: CurrentCaller) -> ImportOut:
    data = await file.read()

    def store() -> ImportOut:
        with context.sessions.begin() as session:
            report = import_feedback(session, user_of(session, caller), data)
            return ImportOut(created=report.created, updated=report.updated)

    try:
        return await run_in_threadpool(store)
    except FeedbackImportError as error:
        raise ApiError(422, str(error), details=[asdict(row) for row in error.errors]) from None


@router.get(
    "/analytics/performance",
    response_model=PerformanceOut,
    summary="Predicted against actual engagement: error and calibration, by format",
)
def performance(context: Context, caller: CurrentCaller) -> PerformanceOut:
    with context.reads() as session:
        report = performance_report(session, user_of(session, caller))
    return PerformanceOut.model_validate(asdict(report))


@router.get(
    "/learning/patterns",
    response_model=list[PatternOut],
    summary="The learning patterns steering your drafts (yours and the global ones)",
)
def patterns(context: Context, caller: CurrentCaller) -> list[PatternOut]:
    with context.reads() as session:
        rows = active_learning_patterns(session, user_of(session, caller))
        return [
            PatternOut(
                id=row.id,
                scope="user" if row.user_id else "global",
                pattern_type=row.pattern_type,
                pattern_data=row.pattern_data,
                confidence=row.confidence,
                usage_count=row.usage_count,
                updated_at=row.updated_at,
            )
            for row in rows
        ]
