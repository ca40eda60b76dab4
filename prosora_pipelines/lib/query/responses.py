"""What a query answers with, as the API and the CLI show it: the result, its variants, their
citations and predictions.

The engine builds these once per answered query; the API returns them as they are (they are
its response models) and the CLI prints them. Nothing here runs a phase.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.query.analysis import QueryAnalysis
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.learned_preferences import AppliedPattern
from prosora_pipelines.lib.query.prediction import Prediction


class CitationOut(BaseModel):
    ref: int
    article_id: str
    title: str
    url: str
    source_id: str

    @classmethod
    def of(cls, evidence: Evidence) -> CitationOut:
        return cls(
            ref=evidence.ref,
            article_id=evidence.article_id,
            title=evidence.title,
            url=evidence.url,
            source_id=evidence.source_id,
        )


class AnswerSentenceOut(BaseModel):
    text: str
    refs: list[int]


class PredictionOut(BaseModel):
    rate: float
    kind: str
    model_version: str
    reasons: list[str]
    factors: dict[str, float]

    @classmethod
    def of(cls, prediction: Prediction) -> PredictionOut:
        return cls(
            rate=round(prediction.rate, 5),
            kind=prediction.kind,
            model_version=prediction.model_version,
            reasons=prediction.reasons,
            factors={f.name: round(f.contribution, 4) for f in prediction.factors},
        )


class PatternUseOut(BaseModel):
    """A learning pattern a draft follows: its feature value and that value's lift."""

    id: uuid.UUID
    pattern_type: str
    value: str
    lift: float

    @classmethod
    def of(cls, pattern: AppliedPattern) -> PatternUseOut:
        return cls(
            id=pattern.id,
            pattern_type=pattern.pattern_type,
            value=pattern.value,
            lift=round(pattern.lift, 4),
        )


class VariantOut(BaseModel):
    id: uuid.UUID
    format: ContentFormat
    hook_type: str
    angle: str
    text: str
    citations: list[CitationOut]
    prediction: PredictionOut
    generator: str
    patterns_applied: list[PatternUseOut] = Field(
        description="The learning patterns this draft follows (hook, length, hashtags, link, "
        "posting time), judged from the draft itself."
    )
    suggested_posting_time: datetime | None = Field(
        description="When to post, in your profile's timezone, when a posting-time pattern "
        "is active; null otherwise."
    )


class AnswerOut(BaseModel):
    """The direct answer to a question: the evidence's own sentences, each cited."""

    status: Literal["answered", "thin", "unanswered"] = Field(
        description="answered: the evidence covers the question; thin: it supports only a"
        " short answer; unanswered: nothing in the evidence speaks to the question."
    )
    text: str = Field(description="The sentences as one paragraph, each with its marker ([2]).")
    sentences: list[AnswerSentenceOut]
    citations: list[CitationOut]
    message: str | None = Field(description="Why the answer is short or missing, if it is.")


class QueryResult(BaseModel):
    query_id: uuid.UUID
    user_id: uuid.UUID
    text: str
    status: Literal["completed", "partial"]
    degraded_reason: str | None
    analysis: QueryAnalysis
    evidence: list[dict[str, Any]]
    answer: AnswerOut | None = Field(
        description="The direct answer, for a question asked as a question (intent"
        " comprehensive); null otherwise."
    )
    suggestions: list[str] = Field(
        description="Searches and sources to try when the evidence on the question is thin."
    )
    variants: list[VariantOut]
    rejected: list[str]
    timings_ms: dict[str, float]
    processing_time_ms: float
    model_versions: dict[str, str]
    patterns_applied: list[uuid.UUID]
    token_usage: dict[str, int]
    created_at: datetime
