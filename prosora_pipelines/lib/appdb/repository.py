"""Reading and writing the app database: the functions the engine, API and command line use.

Every function takes an open ``Session`` and leaves the transaction to the caller (``with
factory.begin() as session: ...``), so several calls commit or roll back together; a
function that writes several rows (``record_query``) validates everything first, then adds
and flushes, so database errors surface inside the call. Inputs are validated with pydantic
and every problem is raised as an ``AppDbError`` whose message names the field, never as a
bare database error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from prosora_pipelines.lib.appdb.models import (
    LearningPattern,
    PerformanceFeedback,
    Query,
    QueryStatus,
    User,
    Variant,
    VoiceProfile,
    engagement_rate,
    utc_now,
)

ContentFormat = Literal["linkedin_post", "x_thread", "blog_outline"]
MAX_HISTORY_PAGE = 100

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Count = Annotated[StrictInt, Field(ge=0)]
JsonObject = dict[str, JsonValue]


class AppDbError(Exception):
    """Base of every error the app database functions raise on purpose."""


class NotFoundError(AppDbError, LookupError):
    """A row the caller named does not exist."""


class InvalidInputError(AppDbError, ValueError):
    """Input that the app database refuses to store; the message names each bad field."""


class _Input(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


class VoiceProfileInput(_Input):
    """A voice profile as a user edits it. Phrase lists are bounded and deduplicated
    case-insensitively (the first spelling wins), and no phrase may be both used and avoided.
    """

    voice_description: str = Field(min_length=1, max_length=2000)
    frameworks: list[Phrase] = Field(default_factory=list, max_length=20)
    phrases_to_use: list[Phrase] = Field(default_factory=list, max_length=50)
    phrases_to_avoid: list[Phrase] = Field(default_factory=list, max_length=50)
    audience: str = Field(min_length=1, max_length=500)
    default_formats: list[ContentFormat] = Field(min_length=1, max_length=3)

    @field_validator("frameworks", "phrases_to_use", "phrases_to_avoid", "default_formats")
    @classmethod
    def _deduplicate(cls, values: list[str]) -> list[str]:
        seen: set[str] = set()
        unique = []
        for value in values:
            if value.casefold() not in seen:
                seen.add(value.casefold())
                unique.append(value)
        return unique

    @model_validator(mode="after")
    def _use_and_avoid_disjoint(self) -> VoiceProfileInput:
        avoided = {phrase.casefold() for phrase in self.phrases_to_avoid}
        clash = [phrase for phrase in self.phrases_to_use if phrase.casefold() in avoided]
        if clash:
            raise ValueError(f"phrases both to use and to avoid: {clash}")
        return self


class ResolvedVoiceProfile(VoiceProfileInput):
    """The profile that applies to a user: their stored one, or the built-in default
    (``is_default=True``, never stored, ``updated_at`` None)."""

    is_default: bool
    updated_at: datetime | None


DEFAULT_VOICE_PROFILE = VoiceProfileInput(
    voice_description=(
        "Clear, evidence-first analysis in plain words: short paragraphs, one idea per "
        "sentence, every claim tied to a cited source, opinions marked as opinions."
    ),
    frameworks=["first principles", "second-order effects", "trade-offs"],
    phrases_to_use=["the evidence shows", "here is the part that matters"],
    phrases_to_avoid=["game-changer", "revolutionary", "in today's fast-paced world"],
    audience="product, technology, finance and policy professionals",
    default_formats=["linkedin_post", "x_thread", "blog_outline"],
)


class VariantRecord(_Input):
    """One generated draft, as the engine hands it over."""

    format: ContentFormat
    text: str = Field(min_length=1, max_length=20_000)
    hook_type: str | None = Field(None, min_length=1, max_length=64)
    citations: list[JsonObject] = Field(default_factory=list, max_length=100)
    predicted_engagement: float | None = Field(None, ge=0, le=1)
    prediction_reasons: list[str] = Field(default_factory=list, max_length=20)
    model_version: str = Field(min_length=1, max_length=200)


class QueryRecord(_Input):
    """A whole answered query: what ``record_query`` stores in one go."""

    text: str = Field(min_length=1, max_length=2000)
    options: JsonObject = Field(default_factory=dict)
    analysis: JsonObject = Field(default_factory=dict)
    results: JsonObject = Field(default_factory=dict)
    metrics: JsonObject = Field(default_factory=dict)
    model_versions: dict[str, str] = Field(default_factory=dict)
    processing_time_ms: float = Field(ge=0)
    status: QueryStatus = "completed"
    created_at: AwareDatetime | None = None
    variants: list[VariantRecord] = Field(default_factory=list, max_length=50)


class FeedbackRecord(_Input):
    """Engagement a posted variant earned: whole, non-negative counts (booleans and floats
    are refused rather than coerced) and a posting time with a timezone."""

    platform: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")
    posted_at: AwareDatetime
    impressions: Count
    reactions: Count
    comments: Count
    shares: Count
    clicks: Count = 0

    @field_validator("platform", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


_Model = TypeVar("_Model", bound=BaseModel)
_Row = TypeVar("_Row")


def _validate(model: type[_Model], data: Mapping[str, Any], what: str) -> _Model:
    """``model`` validated from ``data``, or an ``InvalidInputError`` listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or what}: {problem['msg']}"
            for problem in error.errors()
        )
        raise InvalidInputError(f"invalid {what}: {problems}") from error


def _insert_unique(session: Session, row: _Row, find_existing: Callable[[], _Row | None]) -> _Row:
    """Insert ``row``, or return the row another transaction inserted first under the same
    unique key (the insert runs in a savepoint, so losing the race keeps the transaction)."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = find_existing()
        if existing is None:
            raise
        return existing
    return row


def normalize_email(email: str) -> str:
    """The stored form of an email address (trimmed, lower case), or ``InvalidInputError``."""
    normalized = email.strip().lower()
    local, at, domain = normalized.rpartition("@")
    too_long = len(normalized) > 320
    if not (at and local and domain) or too_long or any(c.isspace() for c in normalized):
        raise InvalidInputError(f"invalid email address: {email!r}")
    return normalized


def get_or_create_user(session: Session, email: str, name: str) -> User:
    """The user with this email (in any letter case), created with ``name`` if new; an
    existing user's name is left as it is."""
    normalized = normalize_email(email)
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInputError("invalid user name: must be 1 to 200 characters")

    def find() -> User | None:
        return session.scalars(select(User).where(User.email == normalized)).one_or_none()

    return find() or _insert_unique(session, User(email=normalized, name=name), find)


def _stored_profile(session: Session, user: User) -> VoiceProfile | None:
    return session.scalars(
        select(VoiceProfile).where(VoiceProfile.user_id == user.id)
    ).one_or_none()


def _resolved(profile: VoiceProfile) -> ResolvedVoiceProfile:
    fields = {name: getattr(profile, name) for name in VoiceProfileInput.model_fields}
    return ResolvedVoiceProfile.model_validate(
        {**fields, "is_default": False, "updated_at": profile.updated_at}
    )


def get_voice_profile(session: Session, user: User) -> ResolvedVoiceProfile:
    """The user's stored voice profile, or the built-in default when they have none."""
    profile = _stored_profile(session, user)
    if profile is None:
        return ResolvedVoiceProfile(
            **DEFAULT_VOICE_PROFILE.model_dump(), is_default=True, updated_at=None
        )
    return _resolved(profile)


def upsert_voice_profile(
    session: Session, user: User, profile: VoiceProfileInput | Mapping[str, Any]
) -> ResolvedVoiceProfile:
    """Store ``profile`` as the user's voice profile, replacing any earlier one whole."""
    if not isinstance(profile, VoiceProfileInput):
        profile = _validate(VoiceProfileInput, profile, "voice profile")
    values = profile.model_dump()
    stored = _stored_profile(session, user) or _insert_unique(
        session, VoiceProfile(user_id=user.id, **values), lambda: _stored_profile(session, user)
    )
    for field, value in values.items():
        setattr(stored, field, value)
    session.flush()
    return _resolved(stored)


def record_query(
    session: Session,
    user: User,
    record: QueryRecord | Mapping[str, Any],
) -> Query:
    """Store an answered query and its variants (in the given order) together.

    Everything is validated before anything is added, so a bad variant leaves no half-stored
    query behind; the rows are flushed so their ids are set on return.
    """
    if not isinstance(record, QueryRecord):
        record = _validate(QueryRecord, record, "query record")
    created_at = record.created_at or utc_now()
    query = Query(
        user_id=user.id,
        text=record.text,
        options=record.options,
        analysis=record.analysis,
        results=record.results,
        metrics=record.metrics,
        model_versions=record.model_versions,
        processing_time_ms=record.processing_time_ms,
        status=record.status,
        created_at=created_at,
        variants=[
            Variant(position=position, created_at=created_at, **variant.model_dump())
            for position, variant in enumerate(record.variants)
        ],
    )
    session.add(query)
    session.flush()
    return query


def record_feedback(
    session: Session,
    variant_id: uuid.UUID,
    feedback: FeedbackRecord | Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> PerformanceFeedback:
    """Store what a posted variant earned, with its engagement rate computed once here.

    ``posted_at`` may not lie after ``now`` (the current time unless given): engagement of a
    post that has not happened yet is a mistake in the input, usually a wrong timezone.
    """
    if not isinstance(feedback, FeedbackRecord):
        feedback = _validate(FeedbackRecord, feedback, "feedback")
    now = now or utc_now()
    if feedback.posted_at > now:
        raise InvalidInputError(
            f"invalid feedback: posted_at {feedback.posted_at.isoformat()} is in the future"
        )
    if session.get(Variant, variant_id) is None:
        raise NotFoundError(f"variant {variant_id} does not exist")
    row = PerformanceFeedback(
        variant_id=variant_id,
        **feedback.model_dump(),
        engagement_rate=engagement_rate(
            feedback.impressions, feedback.reactions, feedback.comments, feedback.shares
        ),
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return row


def active_learning_patterns(session: Session, user: User | None) -> list[LearningPattern]:
    """The active patterns that apply to ``user``: theirs and the global ones (only the
    global ones for ``None``), most confident first."""
    applies: ColumnElement[bool] = LearningPattern.user_id.is_(None)
    if user is not None:
        applies = or_(applies, LearningPattern.user_id == user.id)
    return list(
        session.scalars(
            select(LearningPattern)
            .where(LearningPattern.active, applies)
            .order_by(LearningPattern.confidence.desc(), LearningPattern.created_at.desc())
        )
    )


def user_history(
    session: Session, user: User, limit: int = 20, before: datetime | None = None
) -> list[Query]:
    """The user's queries with their variants, newest first.

    The next page is ``before=<created_at of the last query shown>``: a keyset, so a page
    stays right while new queries arrive, and it reads the (user_id, created_at) index.
    """
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise InvalidInputError(f"invalid limit {limit}: must be 1 to {MAX_HISTORY_PAGE}")
    if before is not None and before.utcoffset() is None:
        raise InvalidInputError("invalid before: needs a timezone")
    statement = select(Query).where(Query.user_id == user.id)
    if before is not None:
        statement = statement.where(Query.created_at < before)
    statement = (
        statement.order_by(Query.created_at.desc(), Query.id.desc())
        .limit(limit)
        .options(selectinload(Query.variants))
    )
    return list(session.scalars(statement))
