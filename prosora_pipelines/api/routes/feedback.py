"""Engagement feedback in (one post, or a CSV export), and what it says back out: how the
predictions fared, and the learning patterns in force."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

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
from prosora_pipelines.lib.engagement.model_registry import models_dir
from prosora_pipelines.lib.engagement.model_report import models_report
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


class HoldoutScoresOut(BaseModel):
    mae: float = Field(description="Mean absolute error of the engagement rate.")
    spearman: float | None
    pairwise_accuracy: float | None = Field(
        description="Over pairs of one user's posts, the share put in the right order."
    )


class CurvePointOut(BaseModel):
    observations: int = Field(description="Training observations the model was refitted on.")
    model_mae: float
    user_mean_mae: float


class ModelReportOut(BaseModel):
    version: str
    promoted: bool
    reason: str = Field(description="Why it was promoted or not.")
    training_size: int
    holdout_size: int
    scores: dict[str, HoldoutScoresOut] = Field(
        description="Hold-out figures by predictor: `linear` (the model), `user_mean`, "
        "`prior`, `knn` (nearest neighbours by text) and `current` (the model it replaced)."
    )
    learning_curve: list[CurvePointOut] = Field(
        description="Hold-out error against the number of training observations."
    )


class PerformanceOut(BaseModel):
    """Predicted engagement against what posts earned (the latest feedback per variant),
    and the engagement models against the prior and the baselines on their hold-out (over
    every user's newest observations)."""

    overall: AccuracyOut
    by_format: dict[str, AccuracyOut]
    by_predictor: dict[str, AccuracyOut]
    model: ModelReportOut | None = Field(
        description="The promoted model; null while the prior predicts."
    )
    latest_candidate: ModelReportOut | None = Field(
        description="The newest trained model when it was not promoted."
    )


class PatternOut(BaseModel):
    id: uuid.UUID
    scope: str
    pattern_type: str = Field(description="The feature (hook_type, length_band, ...).")
    value: str | None = Field(description="The feature's value the pattern is about.")
    lift: float | None = Field(
        description="Multiplicative effect on your engagement rate: 1.2 = 20 % more."
    )
    interval: list[float] | None = Field(description="90 % interval of the lift.")
    samples: int | None = Field(description="Your observations with this value.")
    active: bool = Field(
        description="Whether it steers drafts: its interval excludes no effect (1.0) and "
        "it has enough samples."
    )
    pattern_data: dict[str, Any]
    confidence: float
    usage_count: int
    updated_at: datetime


def _number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _interval(data: dict[str, Any]) -> list[float] | None:
    value = data.get("interval")
    if not isinstance(value, list) or len(value) != 2:
        return None
    low, high = _number({"bound": value[0]}, "bound"), _number({"bound": value[1]}, "bound")
    return None if low is None or high is None else [low, high]


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
    models = models_report(models_dir(context.settings.home))
    return PerformanceOut.model_validate(
        {
            **asdict(report),
            "model": asdict(models.promoted) if models.promoted else None,
            "latest_candidate": asdict(models.latest_candidate)
            if models.latest_candidate
            else None,
        }
    )


@router.get(
    "/learning/patterns",
    response_model=list[PatternOut],
    summary="The learning patterns steering your drafts (yours and the global ones)",
    description="What learning found works for you: per feature value, its lift on your "
    "engagement rate with a 90 % interval and the observations behind it. Only active "
    "patterns steer drafts; `include_inactive` lists the others too.",
)
def patterns(
    context: Context, caller: CurrentCaller, include_inactive: bool = False
) -> list[PatternOut]:
    with context.reads() as session:
        rows = active_learning_patterns(
            session, user_of(session, caller), include_inactive=include_inactive
        )
        return [
            PatternOut(
                id=row.id,
                scope="user" if row.user_id else "global",
                pattern_type=row.pattern_type,
                value=str(row.pattern_data["value"]) if "value" in row.pattern_data else None,
                lift=_number(row.pattern_data, "lift"),
                interval=_interval(row.pattern_data),
                samples=None
                if (samples := _number(row.pattern_data, "samples")) is None
                else int(samples),
                active=row.active,
                pattern_data=row.pattern_data,
                confidence=row.confidence,
                usage_count=row.usage_count,
                updated_at=row.updated_at,
            )
            for row in rows
        ]
