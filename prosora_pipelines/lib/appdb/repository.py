"""Reading and writing the app database: the functions the engine, API and command line use.

Every function takes an open ``Session`` and leaves the transaction to the caller (``with
factory.begin() as session: ...``), so several calls commit or roll back together; a
function that writes several rows (``record_query``) validates everything first, then adds
and flushes, so database errors surface inside the call. Inputs are validated with pydantic
and every problem is raised as an ``AppDbError`` whose message names the field, never as a
bare database error.

Everything a user owns is reached through functions that take the ``User``: a query,
variant or feedback row of someone else answers ``NotFoundError`` with the same message as
one that does not exist, so an id never tells one user anything about another.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from prosora_pipelines.lib.access.emails import normalized_email
from prosora_pipelines.lib.appdb.date_times import DATE_TIME_TEXT
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
CONTENT_FORMATS: tuple[ContentFormat, ...] = get_args(ContentFormat)
MAX_HISTORY_PAGE = 100
MAX_IDS_PER_STATEMENT = 1000

# Characters no stored text may hold: the C0 and C1 control characters but tab, line feed
# and carriage return. PostgreSQL cannot store NUL in text at all and SQLite can, so a NUL
# would behave differently on the two backends; the others are invisible in every display
# and only ever arrive by mistake (or to confuse a reader).
_CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
STORABLE_TEXT_PATTERN = f"^[^{_CONTROL_CHARACTERS}]*$"
# Required text is stripped before its length is checked, so it must hold something else
# than white space.
NON_BLANK_STORABLE_TEXT_PATTERN = (
    f"^[^{_CONTROL_CHARACTERS}]*[^\\s{_CONTROL_CHARACTERS}][^{_CONTROL_CHARACTERS}]*$"
)
_CONTROL_CHARACTER = re.compile(rf"[{_CONTROL_CHARACTERS}\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can: a control character
    (see above), or half of a UTF-16 surrogate pair (JSON can spell one, but it is not a
    character, and neither database driver can encode it)."""
    found = _CONTROL_CHARACTER.search(value)
    if found is None:
        return None
    kind = "an unpaired surrogate" if ord(found.group()) >= 0xD800 else "a control character"
    return f"contains {kind} (U+{ord(found.group()):04X}) at position {found.start() + 1}"


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class _StorableTextSchema:
    """Documents the rule in the JSON schema (the OpenAPI document) as a pattern, keeping
    the field's other bounds; validation stays with ``_storable``, whose message says which
    character and where."""

    @staticmethod
    def __get_pydantic_json_schema__(
        schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        required = json_schema.get("minLength", 0) > 0
        json_schema["pattern"] = (
            NON_BLANK_STORABLE_TEXT_PATTERN if required else STORABLE_TEXT_PATTERN
        )
        return json_schema


StorableText = Annotated[str, AfterValidator(_storable), _StorableTextSchema()]
"""Text the app database stores: every request and record field of free text is one, so a
control character is refused (422 at the API, naming the field) before it reaches either
backend."""
Phrase = Annotated[
    StorableText, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
MAX_COUNT = 2**31 - 1
"""The largest count the INTEGER columns hold on both backends."""


def _whole_number(value: object) -> object:
    """A count as JSON carries it: a whole number, ``40.0`` included (JSON Schema's
    ``integer`` admits it), never a boolean, text or a fraction, which a lax int coerces."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


Count = Annotated[int, Field(ge=0, le=MAX_COUNT), BeforeValidator(_whole_number)]
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

    voice_description: StorableText = Field(min_length=1, max_length=2000)
    frameworks: list[Phrase] = Field(default_factory=list, max_length=20)
    phrases_to_use: list[Phrase] = Field(default_factory=list, max_length=50)
    phrases_to_avoid: list[Phrase] = Field(default_factory=list, max_length=50)
    audience: StorableText = Field(min_length=1, max_length=500)
    default_formats: list[ContentFormat] = Field(min_length=1, max_length=3)
    timezone: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
        description="IANA timezone (e.g. Europe/Berlin) that posting times are read and "
        "suggested in; UTC when not set.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str | None) -> str | None:
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {name!r}: use an IANA name such as Europe/Berlin"
            ) from None
        return name

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
    text: StorableText = Field(min_length=1, max_length=20_000)
    hook_type: StorableText | None = Field(None, min_length=1, max_length=64)
    citations: list[JsonObject] = Field(default_factory=list, max_length=100)
    predicted_engagement: float | None = Field(None, ge=0, le=1)
    prediction_reasons: list[StorableText] = Field(default_factory=list, max_length=20)
    model_version: StorableText = Field(min_length=1, max_length=200)
    prediction_model_version: StorableText | None = Field(None, min_length=1, max_length=200)


class QueryRecord(_Input):
    """A whole answered query: what ``record_query`` stores in one go."""

    text: StorableText = Field(min_length=1, max_length=2000)
    options: JsonObject = Field(default_factory=dict)
    analysis: JsonObject = Field(default_factory=dict)
    results: JsonObject = Field(default_factory=dict)
    metrics: JsonObject = Field(default_factory=dict)
    model_versions: dict[str, str] = Field(default_factory=dict)
    processing_time_ms: float = Field(ge=0)
    status: QueryStatus = "completed"
    created_at: AwareDatetime | None = None
    variants: list[VariantRecord] = Field(default_factory=list, max_length=50)


# Times the database stores: converting to UTC overflows at the edges of Python's range.
EARLIEST_STORABLE_TIME = datetime(1000, 1, 1, tzinfo=UTC)
LATEST_STORABLE_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def time_problem(value: datetime | None) -> str | None:
    """Why ``value`` cannot be stored or used as a time filter, or None when it can."""
    if value is None:
        return None
    if value.utcoffset() is None:
        return "needs a timezone (e.g. 2026-11-01T00:00:00Z)"
    if not EARLIEST_STORABLE_TIME <= value < LATEST_STORABLE_TIME:
        return "must lie in the years 1000 to 9998"
    return None


class FeedbackRecord(_Input):
    """Engagement a posted variant earned: whole, non-negative counts (booleans, text and
    fractions are refused rather than coerced), no more interactions than impressions, and a posting
    time with a timezone, in the years the database stores.

    Interactions are what the engagement rate counts (reactions, comments and shares; see
    ``engagement_rate``): more of them than impressions is a rate above 100 %, which comes
    from swapped or mistyped columns, and would skew every analysis that averages rates.
    Whether the posting time fits the variant is ``posting_time_problem``'s rule.
    """

    platform: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")
    posted_at: Annotated[AwareDatetime, DATE_TIME_TEXT]
    impressions: Count
    reactions: Count
    comments: Count
    shares: Count
    clicks: Count = 0

    @field_validator("platform", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("posted_at")
    @classmethod
    def _storable(cls, value: datetime) -> datetime:
        problem = time_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _possible_figures(self) -> FeedbackRecord:
        interactions = self.reactions + self.comments + self.shares
        if interactions > self.impressions:
            raise ValueError(
                f"reactions, comments and shares add up to {interactions}, more than the "
                f"{self.impressions} impressions: every interaction comes from an impression"
            )
        return self


POSTED_BEFORE_DRAFTED_TOLERANCE = timedelta(days=1)
"""How long before its variant was drafted a post may say it was posted. Exports often give
the day only, which a user writes as midnight (in their own timezone), before the moment
that day the draft was made."""


def posting_time_problem(posted_at: datetime, drafted_at: datetime, now: datetime) -> str | None:
    """Why a post of a variant drafted at ``drafted_at`` cannot have been posted at
    ``posted_at``, or None when it can: not after ``now`` (usually a wrong timezone), and not
    before the draft existed (``POSTED_BEFORE_DRAFTED_TOLERANCE`` aside)."""
    if posted_at > now:
        return f"posted_at {posted_at.isoformat()} is in the future"
    if posted_at < drafted_at - POSTED_BEFORE_DRAFTED_TOLERANCE:
        return (
            f"posted_at {posted_at.isoformat()} is before the variant was drafted "
            f"({drafted_at.astimezone(UTC).isoformat(timespec='seconds')})"
        )
    return None


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
    """The stored form of an email address (``emails.normalized_email``), or
    ``InvalidInputError``."""
    normalized = normalized_email(email)
    if normalized is None:
        raise InvalidInputError(f"invalid email address: {email!r}")
    return normalized


def find_user(session: Session, email: str) -> User | None:
    """The user with this email, in any letter case; None when there is none."""
    normalized = normalize_email(email)
    return session.scalars(select(User).where(User.email == normalized)).one_or_none()


def get_or_create_user(session: Session, email: str, name: str) -> User:
    """The user with this email (in any letter case), created with ``name`` if new; an
    existing user's name is left as it is."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInputError("invalid user name: must be 1 to 200 characters")
    problem = text_problem(name)
    if problem is not None:
        raise InvalidInputError(f"invalid user name: {problem}")

    def find() -> User | None:
        return find_user(session, email)

    return find() or _insert_unique(session, User(email=normalize_email(email), name=name), find)


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


def get_query(session: Session, user: User, query_id: uuid.UUID) -> Query:
    """The user's query with its variants; ``NotFoundError`` when it does not exist or is
    someone else's (the same message either way)."""
    query = session.scalars(
        select(Query)
        .where(Query.id == query_id, Query.user_id == user.id)
        .options(selectinload(Query.variants))
    ).one_or_none()
    if query is None:
        raise NotFoundError(f"query {query_id} does not exist")
    return query


def delete_query(session: Session, user: User, query_id: uuid.UUID) -> None:
    """Delete the user's query; the database deletes its variants and their feedback."""
    query = session.scalars(
        select(Query).where(Query.id == query_id, Query.user_id == user.id)
    ).one_or_none()
    if query is None:
        raise NotFoundError(f"query {query_id} does not exist")
    session.delete(query)
    session.flush()


def _in_batches(ids: Collection[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    """``ids`` in order, in lists short enough for an ``IN`` on every backend (SQLite and
    PostgreSQL cap the bound parameters of one statement)."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), MAX_IDS_PER_STATEMENT):
        yield ordered[start : start + MAX_IDS_PER_STATEMENT]


def _owned_variants(user: User, batch: list[uuid.UUID]) -> Select[uuid.UUID, datetime]:
    return (
        select(Variant.id, Variant.created_at)
        .join(Variant.query)
        .where(Query.user_id == user.id, Variant.id.in_(batch))
        .order_by(Variant.id)
    )


def owned_variants_drafted_at(
    session: Session, user: User, variant_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each of ``variant_ids`` that is a variant of the user's queries was drafted."""
    owned: dict[uuid.UUID, datetime] = {}
    for batch in _in_batches(variant_ids):
        rows = session.execute(_owned_variants(user, batch))
        owned.update((variant_id, drafted) for variant_id, drafted in rows)
    return owned


IMPORTED_POST_VERSION = "imported-post"
"""The ``model_version`` of a variant that stands for a post written outside Prosora."""
IMPORTED_POST_QUERY = "Post imported from a CSV export"


def imported_post_variant(
    session: Session, user: User, text: str, format_: ContentFormat, posted_at: datetime
) -> uuid.UUID:
    """The variant standing for a post the user wrote outside Prosora and imported with its
    figures, created on first import: a query of its own (``options.source`` is
    ``csv-import``) with the post as its one variant, drafted when it was posted, so the
    post's engagement is learned from like a draft's. The same text in the same format is
    the same post; an earlier posting time moves its drafting time back."""
    found = session.scalars(
        select(Variant)
        .join(Variant.query)
        .where(
            Query.user_id == user.id,
            Variant.model_version == IMPORTED_POST_VERSION,
            Variant.format == format_,
            Variant.text == text,
        )
        .order_by(Variant.created_at)
        .limit(1)
    ).first()
    if found is not None:
        if posted_at < found.created_at:
            found.created_at = posted_at
        return found.id
    query = record_query(
        session,
        user,
        QueryRecord(
            text=IMPORTED_POST_QUERY,
            options={"source": "csv-import"},
            processing_time_ms=0.0,
            created_at=posted_at,
            variants=[
                VariantRecord(format=format_, text=text, model_version=IMPORTED_POST_VERSION)
            ],
        ),
    )
    return query.variants[0].id


@dataclass(frozen=True)
class RecordedFeedback:
    """A stored feedback row, and whether it is new (False: an earlier row was replaced)."""

    row: PerformanceFeedback
    created: bool


def record_feedback(
    session: Session,
    user: User,
    variant_id: uuid.UUID,
    feedback: FeedbackRecord | Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> PerformanceFeedback:
    """Store what one of the user's posted variants earned; ``record_feedback_batch``
    with one entry, under the rules written there."""
    return record_feedback_batch(session, user, [(variant_id, feedback)], now=now)[0].row


def record_feedback_batch(
    session: Session,
    user: User,
    entries: Sequence[tuple[uuid.UUID, FeedbackRecord | Mapping[str, Any]]],
    *,
    now: datetime | None = None,
) -> list[RecordedFeedback]:
    """Store what the user's posted variants earned, one result per entry, in order, with
    the engagement rate computed once here. Every entry is checked before anything is
    written; the rows are written with one flush.

    One post is one row: an entry for the same variant, platform and ``posted_at`` as a
    stored row (or as an earlier entry) replaces that row's figures and sets its
    ``recorded_at`` to ``now`` rather than adding a second row, because platforms report
    running totals and two snapshots of one post would count it twice. The last write wins,
    whatever its figures. On PostgreSQL the variant rows are locked (in id order) before
    the stored feedback is read, so concurrent writers for one post queue instead of both
    inserting; SQLite has one writer at a time anyway.

    ``posted_at`` must fit the variant (``posting_time_problem``: not after ``now``, the
    current time unless given, nor before the variant was drafted). A variant that does not
    exist or is someone else's is a ``NotFoundError``.
    """
    now = now or utc_now()
    checked: list[tuple[uuid.UUID, FeedbackRecord, str]] = []
    for index, (variant_id, feedback) in enumerate(entries):
        what = "feedback" if len(entries) == 1 else f"feedback {index}"
        if not isinstance(feedback, FeedbackRecord):
            feedback = _validate(FeedbackRecord, feedback, what)
        checked.append((variant_id, feedback, what))
    owned: dict[uuid.UUID, datetime] = {}
    stored: dict[tuple[uuid.UUID, str, datetime], PerformanceFeedback] = {}
    for batch in _in_batches({variant_id for variant_id, _, _ in checked}):
        locked = session.execute(_owned_variants(user, batch).with_for_update(of=Variant))
        owned.update((variant_id, drafted) for variant_id, drafted in locked)
        for earlier in session.scalars(
            select(PerformanceFeedback)
            .where(PerformanceFeedback.variant_id.in_(batch))
            .order_by(PerformanceFeedback.recorded_at, PerformanceFeedback.id)
        ):
            stored[(earlier.variant_id, earlier.platform, earlier.posted_at)] = earlier
    for variant_id, feedback, what in checked:
        if variant_id not in owned:
            raise NotFoundError(f"variant {variant_id} does not exist")
        problem = posting_time_problem(feedback.posted_at, owned[variant_id], now)
        if problem is not None:
            raise InvalidInputError(f"invalid {what}: {problem}")
    results = []
    for variant_id, feedback, _ in checked:
        values = {
            **feedback.model_dump(),
            "engagement_rate": engagement_rate(
                feedback.impressions, feedback.reactions, feedback.comments, feedback.shares
            ),
            "recorded_at": now,
        }
        key = (variant_id, feedback.platform, feedback.posted_at)
        row = stored.get(key)
        if row is None:
            row = stored[key] = PerformanceFeedback(variant_id=variant_id, **values)
            session.add(row)
            results.append(RecordedFeedback(row, created=True))
        else:
            for field, value in values.items():
                setattr(row, field, value)
            results.append(RecordedFeedback(row, created=False))
    session.flush()
    return results


def active_learning_patterns(
    session: Session, user: User | None, *, include_inactive: bool = False
) -> list[LearningPattern]:
    """The active patterns that apply to ``user``: theirs and the global ones (only the
    global ones for ``None``), the user's own first, then most confident first; with
    ``include_inactive``, the inactive ones too (kept for history, steering nothing)."""
    applies: ColumnElement[bool] = LearningPattern.user_id.is_(None)
    if user is not None:
        applies = or_(applies, LearningPattern.user_id == user.id)
    statement = select(LearningPattern).where(applies)
    if not include_inactive:
        statement = statement.where(LearningPattern.active)
    return list(
        session.scalars(
            statement.order_by(
                LearningPattern.user_id.is_(None),
                LearningPattern.confidence.desc(),
                LearningPattern.created_at.desc(),
            )
        )
    )


def oldest_unlearned_feedback(session: Session) -> datetime | None:
    """When the oldest feedback recorded since the learning patterns last changed was
    recorded (any feedback when there are no patterns yet); None when every feedback is
    older than the patterns. How long it has waited is how far learning has fallen behind."""
    learned_until = session.scalar(select(func.max(LearningPattern.updated_at)))
    waiting = select(func.min(PerformanceFeedback.recorded_at))
    if learned_until is not None:
        waiting = waiting.where(PerformanceFeedback.recorded_at > learned_until)
    return session.scalar(waiting)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise InvalidInputError(f"invalid limit {limit}: must be 1 to {MAX_HISTORY_PAGE}")


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise InvalidInputError(f"invalid {name}: needs a timezone")


def _newest_first(statement: Select[Query], limit: int) -> Select[Query]:
    return (
        statement.order_by(Query.created_at.desc(), Query.id.desc())
        .limit(limit)
        .options(selectinload(Query.variants))
    )


@dataclass(frozen=True)
class HistoryPage:
    """One page of history; ``next_cursor`` asks for the next one and is None on the last."""

    queries: list[Query]
    next_cursor: str | None


def encode_cursor(created_at: datetime, query_id: uuid.UUID) -> str:
    """The opaque cursor for "queries after this one, newest first": URL-safe base64 of
    the query's UTC ``created_at`` and id. It is not signed: it only positions a page
    within the caller's own history, so a forged one reveals nothing."""
    payload = f"{created_at.astimezone(UTC).isoformat()}|{query_id}"
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor from ``encode_cursor`` stands for; any other string,
    even one that decodes, is an ``InvalidInputError``."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        stamp, _, query_id = raw.decode().partition("|")
        position = (datetime.fromisoformat(stamp), uuid.UUID(query_id))
    except (ValueError, binascii.Error) as error:
        raise InvalidInputError(f"invalid cursor {cursor!r}: not one this API issued") from error
    if position[0].utcoffset() is None or encode_cursor(*position) != cursor:
        raise InvalidInputError(f"invalid cursor {cursor!r}: not one this API issued")
    return position


def history_page(
    session: Session,
    user: User,
    *,
    limit: int = 20,
    cursor: str | None = None,
    format: ContentFormat | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> HistoryPage:
    """A page of the user's queries with their variants, newest first.

    ``format`` keeps the queries with at least one variant in that format; ``since`` and
    ``until`` keep those created in ``[since, until)``, which is empty when ``until`` is
    not after ``since``. Pages are a keyset on (created_at,
    id), so queries created in the same instant are neither skipped nor repeated and a page
    stays right while new queries arrive; the same filters should come with every cursor.
    """
    _check_limit(limit)
    _check_aware("since", since)
    _check_aware("until", until)
    if format is not None and format not in CONTENT_FORMATS:
        raise InvalidInputError(f"invalid format {format!r}: must be one of {CONTENT_FORMATS}")
    statement = select(Query).where(Query.user_id == user.id)
    if cursor is not None:
        created_at, query_id = decode_cursor(cursor)
        statement = statement.where(
            or_(
                Query.created_at < created_at,
                and_(Query.created_at == created_at, Query.id < query_id),
            )
        )
    if format is not None:
        statement = statement.where(Query.variants.any(Variant.format == format))
    if since is not None:
        statement = statement.where(Query.created_at >= since)
    if until is not None:
        statement = statement.where(Query.created_at < until)
    queries = list(session.scalars(_newest_first(statement, limit + 1)))
    if len(queries) <= limit:
        return HistoryPage(queries, None)
    last = queries[limit - 1]
    return HistoryPage(queries[:limit], encode_cursor(last.created_at, last.id))
