"""The app database's tables, as SQLAlchemy 2 typed models that suit SQLite and PostgreSQL.

Portable on purpose: ``Uuid`` (native on PostgreSQL, 32 hex characters on SQLite), ``JSON``
(``json`` on PostgreSQL, text on SQLite) and timestamps that are always timezone-aware UTC in
Python whatever the database stores. Constraints carry names from one naming convention, so
later migrations can drop or alter them on both databases (SQLite needs names to rebuild a
table in Alembic's batch mode).

Rows are deleted with their owner by the database (``ON DELETE CASCADE``): a user takes
their profile, queries and personal learning patterns; a query takes its variants; a
variant takes its feedback.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from typing_extensions import override

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

QueryStatus = Literal["completed", "partial", "failed"]
"""A query is recorded once it has answered: with every format, with some, or with none."""
QUERY_STATUSES = get_args(QueryStatus)


def utc_now() -> datetime:
    """The current time, timezone-aware, as every timestamp column expects."""
    return datetime.now(UTC)


def engagement_rate(impressions: int, reactions: int, comments: int, shares: int) -> float | None:
    """The project's one engagement rate: ``(reactions + comments + shares) / impressions``.

    Clicks are left out on purpose. Reactions, comments and shares are public, counted by
    every platform and mean the same everywhere, so the rate compares a LinkedIn post with an
    X thread. Clicks are private analytics that each platform defines differently (link
    clicks on LinkedIn; any click, including expanding the post or the profile, on X), so
    including them would make rates from different platforms incomparable. Clicks are still
    stored for analyses that want them. With no impressions the rate is unknown (``None``),
    not zero.
    """
    if impressions == 0:
        return None
    return (reactions + comments + shares) / impressions


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that refuses naive datetimes and always reads back as UTC.

    PostgreSQL keeps the offset (``timestamptz``) but SQLite stores text without one; storing
    UTC everywhere makes the text sort in time order and reading it back as UTC is exact.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    @override
    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the app database needs a timezone")
        return value.astimezone(UTC)

    @override
    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base: one metadata, one naming convention, portable column types."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), uuid.UUID: Uuid()}


class User(Base):
    """A person using the product; the email is stored lower-cased so it is unique however
    it is typed."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class VoiceProfile(Base):
    """How one user writes: at most one row per user; without one the built-in default
    applies (see ``repository.get_voice_profile``)."""

    __tablename__ = "voice_profiles"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    voice_description: Mapped[str] = mapped_column(Text)
    frameworks: Mapped[list[str]] = mapped_column(JSON)
    phrases_to_use: Mapped[list[str]] = mapped_column(JSON)
    phrases_to_avoid: Mapped[list[str]] = mapped_column(JSON)
    audience: Mapped[str] = mapped_column(Text)
    default_formats: Mapped[list[str]] = mapped_column(JSON)
    # IANA name; None reads as UTC.
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Query(Base):
    """One answered query: what was asked, how it was understood and what came back.

    ``analysis`` is the query analysis; ``results`` the evidence and anything else the
    engine returned; ``metrics`` timings per phase and counts; ``model_versions`` the models
    (embedding, generator, engagement) that produced the answer, so every draft is traceable.
    """

    __tablename__ = "queries"
    __table_args__ = (
        Index("ix_queries_user_id_created_at", "user_id", "created_at"),
        CheckConstraint("processing_time_ms >= 0", name="processing_time_non_negative"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{status}'" for status in QUERY_STATUSES) + ")",
            name="status_known",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_versions: Mapped[dict[str, str]] = mapped_column(JSON)
    processing_time_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="query",
        order_by="Variant.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Variant(Base):
    """One draft answering a query in one format, with its citations and predicted
    engagement; ``position`` keeps the order the engine ranked them in."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("query_id", "position"),
        CheckConstraint("position >= 0", name="position_non_negative"),
        CheckConstraint(
            "predicted_engagement IS NULL OR"
            " (predicted_engagement >= 0 AND predicted_engagement <= 1)",
            name="predicted_engagement_is_rate",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    query_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("queries.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    hook_type: Mapped[str | None] = mapped_column(String(64))
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    predicted_engagement: Mapped[float | None] = mapped_column(Float)
    prediction_reasons: Mapped[list[str]] = mapped_column(JSON)
    # The generator that wrote the draft.
    model_version: Mapped[str] = mapped_column(String(200))
    # The engagement model (or prior) that predicted it; None before revision 0002.
    prediction_model_version: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    query: Mapped[Query] = relationship(back_populates="variants")


class PerformanceFeedback(Base):
    """What a posted variant did on a platform, as recorded at ``recorded_at``.

    ``engagement_rate`` is computed by ``engagement_rate`` when the row is written and
    stored so that analytics can filter and aggregate on it in SQL.
    """

    __tablename__ = "performance_feedback"
    __table_args__ = (
        Index("ix_performance_feedback_variant_id", "variant_id"),
        CheckConstraint("impressions >= 0", name="impressions_non_negative"),
        CheckConstraint("reactions >= 0", name="reactions_non_negative"),
        CheckConstraint("comments >= 0", name="comments_non_negative"),
        CheckConstraint("shares >= 0", name="shares_non_negative"),
        CheckConstraint("clicks >= 0", name="clicks_non_negative"),
        CheckConstraint(
            "engagement_rate IS NULL OR engagement_rate >= 0", name="engagement_rate_non_negative"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    variant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    posted_at: Mapped[datetime] = mapped_column()
    impressions: Mapped[int] = mapped_column(Integer)
    reactions: Mapped[int] = mapped_column(Integer)
    comments: Mapped[int] = mapped_column(Integer)
    shares: Mapped[int] = mapped_column(Integer)
    clicks: Mapped[int] = mapped_column(Integer)
    engagement_rate: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)


class LearningPattern(Base):
    """Something learned about what works (for one user, or for everyone when ``user_id``
    is null); ``pattern_data`` holds the effect size, sample counts and whatever the kind of
    pattern needs. Inactive patterns are kept for history but no longer steer generation."""

    __tablename__ = "learning_patterns"
    __table_args__ = (
        Index("ix_learning_patterns_user_id_pattern_type", "user_id", "pattern_type"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_is_probability"),
        CheckConstraint("usage_count >= 0", name="usage_count_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    pattern_type: Mapped[str] = mapped_column(String(64))
    pattern_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
