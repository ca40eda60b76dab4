"""Engagement observations: every usable feedback row with the post it rates, featurized once.

An observation is one feedback row (one post of a variant on one platform, with its latest
figures) joined to the variant it rates: the text, format and hook, the query's domains and
the tiers of the sources the variant cites, when it was posted and by whom. Its features
come from ``features.post_features`` (read in the timezone of the user's voice profile, UTC
when it names none) and its text embedding (of ``features.embedding_text``) from the
project's embedding model, so learning and prediction see posts the same way. The prior's
prediction for the post is kept beside it (``prior_rate``), so the model can be compared
with the prior on the same posts.

The table is built incrementally: a feedback row is (re)built only when it is new or its
``recorded_at`` changed (a replaced snapshot), rows whose feedback was deleted are dropped,
and when nothing changed the table is left as it was, so re-running changes nothing.

Rows the app database should never have held are left out and counted by reason
(``SKIP_REASONS``), so they never reach training: no impressions (no rate), more
interactions than impressions, a negative count, a posting time before the variant was
drafted (``POSTED_BEFORE_DRAFTED_TOLERANCE`` aside) or after the figures were recorded.
The API and the CSV import refuse such figures already; this guard is for rows written
around them.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import PerformanceFeedback, Query, Variant, VoiceProfile
from prosora_pipelines.lib.appdb.repository import (
    CONTENT_FORMATS,
    POSTED_BEFORE_DRAFTED_TOLERANCE,
    ContentFormat,
)
from prosora_pipelines.lib.engagement.features import (
    PATTERN_FEATURES,
    PostFeatures,
    embedding_text,
    pattern_values,
    post_features,
)
from prosora_pipelines.lib.query.drafts import HOOK_TYPES, Draft
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.prediction import BASE_RATE, EngagementPrior

FEATURE_COLUMNS = tuple(item.name for item in fields(PostFeatures))
KEY_PREFIX = "key:"
KEY_COLUMNS = tuple(f"{KEY_PREFIX}{name}" for name in PATTERN_FEATURES)
SKIP_REASONS = (
    "no impressions",
    "negative count",
    "more interactions than impressions",
    "posted before the variant was drafted",
    "posted after the figures were recorded",
)
_ID_BATCH = 1000

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
"""Texts → one embedding row per text (the embedding model's ``encode``)."""


@dataclass(frozen=True)
class FeedbackPost:
    """One feedback row with the post it rates, as read from the app database."""

    feedback_id: str
    recorded_at: datetime
    user_id: str
    variant_id: str
    platform: str
    posted_at: datetime
    drafted_at: datetime
    impressions: int
    reactions: int
    comments: int
    shares: int
    format: str
    text: str
    hook_type: str | None
    query_domains: Mapping[str, float]
    cited_tiers: tuple[str, ...]
    timezone: str | None

    @property
    def interactions(self) -> int:
        return self.reactions + self.comments + self.shares


@dataclass(frozen=True)
class ObservationBuild:
    """The observations table after a build, and what the build did."""

    table: pl.DataFrame
    added: int
    replaced: int
    removed: int
    skipped: Mapping[str, int]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)


def skip_reason(post: FeedbackPost) -> str | None:
    """Why a feedback row must not reach training, or None (see the module docstring)."""
    counts = (post.impressions, post.reactions, post.comments, post.shares)
    if min(counts) < 0:
        return "negative count"
    if post.impressions == 0:
        return "no impressions"
    if post.interactions > post.impressions:
        return "more interactions than impressions"
    if post.posted_at < post.drafted_at - POSTED_BEFORE_DRAFTED_TOLERANCE:
        return "posted before the variant was drafted"
    if post.posted_at > post.recorded_at:
        return "posted after the figures were recorded"
    return None


def feedback_versions(session: Session) -> dict[str, datetime]:
    """Every feedback row's id and ``recorded_at``: what decides which rows to rebuild."""
    rows = session.execute(select(PerformanceFeedback.id, PerformanceFeedback.recorded_at))
    return {str(feedback_id): recorded_at for feedback_id, recorded_at in rows}


def _cited_tiers(
    citations: Sequence[Mapping[str, Any]], results: Mapping[str, Any]
) -> tuple[str, ...]:
    tier_by_ref = {
        item.get("ref"): item.get("tier")
        for item in results.get("evidence", [])
        if isinstance(item, dict)
    }
    tiers = (tier_by_ref.get(citation.get("ref")) for citation in citations)
    return tuple(tier for tier in tiers if isinstance(tier, str))


def _domains(analysis: Mapping[str, Any]) -> dict[str, float]:
    domains = analysis.get("domains")
    if not isinstance(domains, dict):
        return {}
    return {
        str(name): float(weight)
        for name, weight in domains.items()
        if isinstance(weight, int | float)
    }


def read_feedback_posts(session: Session, feedback_ids: Iterable[str]) -> list[FeedbackPost]:
    """The named feedback rows with their posts, in feedback id order."""
    ids = sorted(uuid.UUID(feedback_id) for feedback_id in feedback_ids)
    posts: list[FeedbackPost] = []
    for start in range(0, len(ids), _ID_BATCH):
        rows = session.execute(
            select(PerformanceFeedback, Variant, Query, VoiceProfile.timezone)
            .join(Variant, Variant.id == PerformanceFeedback.variant_id)
            .join(Query, Query.id == Variant.query_id)
            .outerjoin(VoiceProfile, VoiceProfile.user_id == Query.user_id)
            .where(PerformanceFeedback.id.in_(ids[start : start + _ID_BATCH]))
            .order_by(PerformanceFeedback.id)
        )
        posts.extend(
            FeedbackPost(
                feedback_id=str(feedback.id),
                recorded_at=feedback.recorded_at,
                user_id=str(query.user_id),
                variant_id=str(variant.id),
                platform=feedback.platform,
                posted_at=feedback.posted_at,
                drafted_at=variant.created_at,
                impressions=feedback.impressions,
                reactions=feedback.reactions,
                comments=feedback.comments,
                shares=feedback.shares,
                format=variant.format,
                text=variant.text,
                hook_type=variant.hook_type,
                query_domains=_domains(query.analysis),
                cited_tiers=_cited_tiers(variant.citations, query.results),
                timezone=timezone,
            )
            for feedback, variant, query, timezone in rows
        )
    return posts


def prior_rate(post: FeedbackPost) -> float:
    """What the hand-set prior (``lib.query.prediction``) predicts for the post; its base
    rate for a post it cannot score (no known hook)."""
    if post.hook_type not in HOOK_TYPES or post.format not in CONTENT_FORMATS:
        return BASE_RATE.get(cast(ContentFormat, post.format), min(BASE_RATE.values()))
    # The prior reads only the cited items' tiers, so the evidence carries those alone.
    evidence = [
        Evidence(
            ref=ref,
            article_id="",
            title="",
            url="",
            source_id="",
            tier=tier,
            credibility=0.0,
            domains=(),
            published_at=None,
            snippet="",
            passage="",
            chunk_id="",
            score=0.0,
            components={},
        )
        for ref, tier in enumerate(post.cited_tiers, start=1)
    ]
    draft = Draft(
        format=post.format,
        hook_type=post.hook_type,
        angle="",
        text=post.text,
        refs=tuple(item.ref for item in evidence),
    )
    return EngagementPrior().predict(draft, evidence).rate


def featurize(post: FeedbackPost) -> PostFeatures:
    return post_features(
        post.text,
        post.format,
        post.hook_type,
        post.query_domains,
        post.cited_tiers,
        post.posted_at,
        post.timezone,
    )


def observation_rows(
    posts: Sequence[FeedbackPost], embed: Embed
) -> tuple[pl.DataFrame, Counter[str]]:
    """The observations of ``posts`` (texts embedded in one batched call) and the count of
    rows left out by reason."""
    skipped: Counter[str] = Counter()
    usable = []
    for post in posts:
        reason = skip_reason(post)
        if reason is None:
            usable.append(post)
        else:
            skipped[reason] += 1
    texts = sorted({embedding_text(post.text) for post in usable})
    vectors = embed(texts) if texts else np.zeros((0, 0), dtype=np.float32)
    vector_of = {text: vectors[index] for index, text in enumerate(texts)}
    records = []
    for post in usable:
        features = featurize(post)
        keys = pattern_values(features)
        records.append(
            {
                "feedback_id": post.feedback_id,
                "recorded_at": post.recorded_at.astimezone(UTC),
                "user_id": post.user_id,
                "variant_id": post.variant_id,
                "platform": post.platform,
                "posted_at": post.posted_at.astimezone(UTC),
                "impressions": post.impressions,
                "interactions": post.interactions,
                "rate": post.interactions / post.impressions,
                "prior_rate": prior_rate(post),
                "text": post.text,
                **{name: getattr(features, name) for name in FEATURE_COLUMNS},
                **{f"{KEY_PREFIX}{name}": keys.get(name) for name in PATTERN_FEATURES},
            }
        )
    if not records:
        return empty_observations(), skipped
    schema = observation_schema()
    embedding_type = schema.pop("embedding")
    # The vectors go in as one matrix, not as Python lists of floats.
    matrix = np.stack([vector_of[embedding_text(post.text)] for post in usable])
    table = pl.DataFrame(records, schema=schema).with_columns(
        pl.Series("embedding", matrix.astype(np.float32)).cast(embedding_type)
    )
    return table, skipped


def observation_schema() -> dict[str, pl.DataType]:
    """The observations table's columns and types."""
    feature_types: dict[str, pl.DataType] = {
        "format": pl.String(),
        "hook_type": pl.String(),
        "first_line_question": pl.Boolean(),
        "first_line_number": pl.Boolean(),
        "length_chars": pl.Int64(),
        "length_band": pl.String(),
        "hashtag_count": pl.Int64(),
        "link_count": pl.Int64(),
        "emoji_count": pl.Int64(),
        "mention_count": pl.Int64(),
        "reading_grade": pl.Float64(),
        "query_domain": pl.String(),
        "premium_share": pl.Float64(),
        "posted_weekday": pl.String(),
        "posted_hour": pl.Int64(),
    }
    return {
        "feedback_id": pl.String(),
        "recorded_at": pl.Datetime("us", "UTC"),
        "user_id": pl.String(),
        "variant_id": pl.String(),
        "platform": pl.String(),
        "posted_at": pl.Datetime("us", "UTC"),
        "impressions": pl.Int64(),
        "interactions": pl.Int64(),
        "rate": pl.Float64(),
        "prior_rate": pl.Float64(),
        "text": pl.String(),
        **{name: feature_types[name] for name in FEATURE_COLUMNS},
        **{column: pl.String() for column in KEY_COLUMNS},
        "embedding": pl.List(pl.Float32()),
    }


def empty_observations() -> pl.DataFrame:
    return pl.DataFrame(schema=observation_schema())


def build_observations(
    existing: pl.DataFrame | None,
    versions: Mapping[str, datetime],
    read_posts: Callable[[Iterable[str]], list[FeedbackPost]],
    embed: Embed,
) -> ObservationBuild:
    """The observations table brought up to date with the feedback rows in ``versions``
    (id → ``recorded_at``), rebuilding only new and changed rows (module docstring).

    A row once left out (``skip_reason``) is looked at again on every build, since it is
    not in the table; that keeps the skipped counts true to the database."""
    table = empty_observations() if existing is None else existing
    known = dict(zip(table["feedback_id"].to_list(), table["recorded_at"].to_list(), strict=True))
    changed = [
        feedback_id
        for feedback_id, recorded_at in versions.items()
        if feedback_id not in known or known[feedback_id] != recorded_at.astimezone(UTC)
    ]
    gone = [feedback_id for feedback_id in known if feedback_id not in versions]
    rebuilt, skipped = observation_rows(read_posts(changed), embed)
    replaced = sum(feedback_id in known for feedback_id in rebuilt["feedback_id"].to_list())
    if not len(rebuilt) and not gone and not any(feedback_id in known for feedback_id in changed):
        return ObservationBuild(table, 0, 0, 0, dict(skipped))
    drop = set(gone) | set(changed)
    kept = table.filter(~pl.col("feedback_id").is_in(list(drop)))
    updated = pl.concat([kept, rebuilt]).sort("posted_at", "feedback_id")
    removed = len(table) - len(kept) - replaced
    return ObservationBuild(
        updated,
        added=len(rebuilt) - replaced,
        replaced=replaced,
        removed=removed,
        skipped=dict(skipped),
    )


def embedding_matrix(table: pl.DataFrame) -> npt.NDArray[np.float64]:
    """The observations' text embeddings as one matrix, a row per observation."""
    if not len(table):
        return np.zeros((0, 0))
    dimension = int(table["embedding"].list.len().max())  # type: ignore[arg-type]
    column = table["embedding"].cast(pl.Array(pl.Float32(), dimension))
    return column.to_numpy().astype(np.float64)


def features_of(row: Mapping[str, Any]) -> PostFeatures:
    """The ``PostFeatures`` stored in an observation row (a ``table.iter_rows(named=True)``
    item)."""
    return PostFeatures(**{name: row[name] for name in FEATURE_COLUMNS})


def log_rate(interactions: int, impressions: int) -> float:
    """The log of the engagement rate, smoothed by half an interaction so a post with none
    still has one."""
    return math.log((interactions + 0.5) / (impressions + 1))
