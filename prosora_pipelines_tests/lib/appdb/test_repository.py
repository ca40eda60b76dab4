"""Why: the engine, the API and the command line only touch the app database through these
functions, so their promises (one user per email, a default voice, queries stored whole
with their JSON intact, honest engagement numbers, the right learning patterns) must hold on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import (
    LearningPattern,
    PerformanceFeedback,
    Query,
    User,
    VoiceProfile,
    engagement_rate,
)
from prosora_pipelines.lib.appdb.repository import (
    DEFAULT_VOICE_PROFILE,
    AppDbError,
    FeedbackRecord,
    InvalidInputError,
    NotFoundError,
    VoiceProfileInput,
    _insert_unique,
    active_learning_patterns,
    get_or_create_user,
    get_voice_profile,
    history_page,
    normalize_email,
    oldest_unlearned_feedback,
    record_feedback,
    record_query,
    upsert_voice_profile,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

ANALYSIS: dict[str, Any] = {
    "intent": "comprehensive",
    "domains": {"finance": 0.6, "politics": 0.4},
    "keywords": ["AI Act", "fintech", "régulation", "监管"],
    "nested": {"deep": {"deeper": [1, 2.5, None, True, {"emoji": "📈"}]}},
}


def _variant(format_: str = "linkedin_post", **overrides: Any) -> dict[str, Any]:
    return {
        "format": format_,
        "text": f"A {format_} draft — with “quotes” and ünïcödé.",
        "hook_type": "contrarian",
        "citations": [{"article_id": "a1", "url": "https://example.com/a1", "span": [0, 42]}],
        "predicted_engagement": 0.031,
        "prediction_reasons": ["question hook", "two citations"],
        "model_version": "extractive-1/prior-0",
        **overrides,
    }


def _record(session: Session, user: User, text: str = "AI regulation", **overrides: Any) -> Query:
    record: dict[str, Any] = {
        "text": text,
        "options": {"formats": ["linkedin_post", "x_thread", "blog_outline"]},
        "analysis": ANALYSIS,
        "results": {"evidence": [{"article_id": "a1", "score": 0.82}]},
        "metrics": {"phase_ms": {"analysis": 3.1, "retrieval": 12.0}},
        "model_versions": {"embedding": "all-MiniLM-L6-v2", "engagement": "prior-0"},
        "processing_time_ms": 41.5,
        "created_at": NOW - timedelta(days=30),
        "variants": [_variant("linkedin_post"), _variant("x_thread"), _variant("blog_outline")],
        **overrides,
    }
    return record_query(session, user, record)


def _feedback(**overrides: Any) -> dict[str, Any]:
    return {
        "platform": "LinkedIn",
        "posted_at": NOW - timedelta(days=1),
        "impressions": 1000,
        "reactions": 30,
        "comments": 5,
        "shares": 5,
        "clicks": 60,
        **overrides,
    }


def test_a_user_is_provisioned_once_per_email_in_any_case(session: Session) -> None:
    first = get_or_create_user(session, "  Ada.Lovelace@Example.COM ", "Ada")
    session.commit()
    again = get_or_create_user(session, "ada.lovelace@example.com", "Someone Else")
    assert again.id == first.id
    assert (again.email, again.name) == ("ada.lovelace@example.com", "Ada")
    assert session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize("email", ["", "no-at-sign", "@example.com", "ada@", "a da@example.com"])
def test_malformed_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidInputError, match="email"):
        normalize_email(email)


def test_losing_the_insert_race_returns_the_winner(session: Session) -> None:
    winner = get_or_create_user(session, "race@example.com", "Winner")
    session.commit()
    loser = User(email="race@example.com", name="Loser")

    found = _insert_unique(
        session,
        loser,
        lambda: session.scalars(select(User).filter_by(email="race@example.com")).one(),
    )
    assert found.id == winner.id
    # The savepoint kept the transaction usable.
    get_or_create_user(session, "after@example.com", "After")
    session.commit()
    assert session.scalar(select(func.count()).select_from(User)) == 2


def test_a_user_without_a_profile_gets_the_default(session: Session) -> None:
    user = get_or_create_user(session, "new@example.com", "New")
    profile = get_voice_profile(session, user)
    assert profile.is_default
    assert profile.updated_at is None
    assert profile.model_dump(exclude={"is_default", "updated_at"}) == (
        DEFAULT_VOICE_PROFILE.model_dump()
    )
    assert session.scalar(select(func.count()).select_from(VoiceProfile)) == 0


def test_upserting_a_profile_creates_then_replaces_it(session: Session) -> None:
    user = get_or_create_user(session, "writer@example.com", "Writer")
    created = upsert_voice_profile(
        session,
        user,
        {
            "voice_description": "  Dry wit, numbers first.  ",
            "frameworks": ["Jobs to be done", "jobs to be done", "Porter's five forces"],
            "phrases_to_use": ["here's the data"],
            "phrases_to_avoid": ["synergy", "Synergy", "disrupt"],
            "audience": "fintech founders",
            "default_formats": ["x_thread", "x_thread"],
        },
    )
    session.commit()
    assert not created.is_default
    assert created.voice_description == "Dry wit, numbers first."
    assert created.frameworks == ["Jobs to be done", "Porter's five forces"]
    assert created.phrases_to_avoid == ["synergy", "disrupt"]
    assert created.default_formats == ["x_thread"]

    replacement = VoiceProfileInput(
        voice_description="Warm and direct.",
        audience="product managers",
        default_formats=["linkedin_post", "blog_outline"],
    )
    updated = upsert_voice_profile(session, user, replacement)
    session.commit()
    session.expire_all()
    read_back = get_voice_profile(session, user)
    assert read_back == updated
    assert read_back.model_dump(exclude={"is_default", "updated_at"}) == replacement.model_dump()
    assert read_back.updated_at is not None
    assert session.scalar(select(func.count()).select_from(VoiceProfile)) == 1


INVALID_PROFILE_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"voice_description": ""}, "voice_description"),
    ({"voice_description": "x" * 2001}, "voice_description"),
    ({"phrases_to_use": ["ok", "y" * 201]}, "phrases_to_use.1"),
    ({"phrases_to_avoid": [f"p{i}" for i in range(51)]}, "phrases_to_avoid"),
    ({"default_formats": ["tiktok"]}, "default_formats.0"),
    ({"default_formats": []}, "default_formats"),
    ({"phrases_to_use": ["Moat"], "phrases_to_avoid": ["moat"]}, "both to use and to avoid"),
    ({"unknown": 1}, "unknown"),
    (
        {"voice_description": "dry\u0000wit"},
        "voice_description: .*control character \\(U\\+0000\\)",
    ),
    ({"audience": "founders\u001b[31m"}, "audience: .*U\\+001B"),
    ({"frameworks": ["ok", "b\u0085ad"]}, "frameworks.1: .*U\\+0085"),
    ({"phrases_to_avoid": ["half \ud83d"]}, "phrases_to_avoid.0: .*as a unicode string"),
]


def test_invalid_profiles_are_refused_with_the_field_named(session: Session) -> None:
    user = get_or_create_user(session, "picky@example.com", "Picky")
    for change, field in INVALID_PROFILE_CHANGES:
        with pytest.raises(InvalidInputError, match="invalid voice profile") as caught:
            upsert_voice_profile(session, user, {**DEFAULT_VOICE_PROFILE.model_dump(), **change})
        assert re.search(field, str(caught.value)), (change, str(caught.value))
    assert get_voice_profile(session, user).is_default


def test_text_with_tabs_and_line_breaks_is_stored_as_it_came(session: Session) -> None:
    """The text rule refuses control characters but the three that lay out text."""
    user = get_or_create_user(session, "layout@example.com", "Lay\tout")
    laid_out = "Short lines.\r\nThen a list:\n\t- one\n\t- two"
    profile = {**DEFAULT_VOICE_PROFILE.model_dump(), "voice_description": laid_out}
    upsert_voice_profile(session, user, profile)
    session.commit()
    session.expire_all()
    assert get_voice_profile(session, user).voice_description == laid_out
    with pytest.raises(InvalidInputError, match="user name: contains a control character"):
        get_or_create_user(session, "nul@example.com", "N\u0000L")


def test_a_query_and_its_variants_read_back_intact(session: Session) -> None:
    user = get_or_create_user(session, "asker@example.com", "Asker")
    query_id = _record(session, user, text="Impact of the EU AI Act on fintech — 2026?").id
    session.commit()
    session.expunge_all()

    stored = session.get_one(Query, query_id)
    assert stored.text == "Impact of the EU AI Act on fintech — 2026?"
    assert stored.analysis == ANALYSIS
    assert stored.metrics == {"phase_ms": {"analysis": 3.1, "retrieval": 12.0}}
    assert stored.model_versions["embedding"] == "all-MiniLM-L6-v2"
    assert (stored.status, stored.processing_time_ms) == ("completed", 41.5)
    assert [variant.format for variant in stored.variants] == [
        "linkedin_post",
        "x_thread",
        "blog_outline",
    ]
    first = stored.variants[0]
    assert first.text == "A linkedin_post draft — with “quotes” and ünïcödé."
    assert first.citations == [
        {"article_id": "a1", "url": "https://example.com/a1", "span": [0, 42]}
    ]
    assert (first.hook_type, first.predicted_engagement) == ("contrarian", 0.031)
    assert first.prediction_reasons == ["question hook", "two citations"]


def test_a_bad_variant_stores_nothing(session: Session) -> None:
    user = get_or_create_user(session, "careful@example.com", "Careful")
    session.commit()
    bad = [_variant(), _variant("x_thread", predicted_engagement=1.5)]
    with pytest.raises(InvalidInputError, match=r"variants\.1\.predicted_engagement"):
        _record(session, user, variants=bad)
    with pytest.raises(InvalidInputError, match=r"results\.value"):
        _record(session, user, results={"value": float("nan")})
    session.commit()
    assert session.scalar(select(func.count()).select_from(Query)) == 0


def test_history_is_newest_first_and_pages_by_cursor(session: Session) -> None:
    user = get_or_create_user(session, "history@example.com", "History")
    other = get_or_create_user(session, "other@example.com", "Other")
    for minute in range(5):
        _record(session, user, text=f"q{minute}", created_at=NOW + timedelta(minutes=minute))
    _record(session, other, text="not mine", created_at=NOW + timedelta(hours=1))
    session.commit()
    session.expunge_all()

    pages: list[list[str]] = []
    cursor = None
    while True:
        page = history_page(session, user, limit=2, cursor=cursor)
        pages.append([query.text for query in page.queries])
        if (cursor := page.next_cursor) is None:
            break
    assert pages == [["q4", "q3"], ["q2", "q1"], ["q0"]]
    assert [len(query.variants) for query in history_page(session, user).queries] == [3] * 5


def test_history_refuses_bad_paging(session: Session) -> None:
    user = get_or_create_user(session, "pager@example.com", "Pager")
    for limit in (0, 101):
        with pytest.raises(InvalidInputError, match="limit"):
            history_page(session, user, limit=limit)
    with pytest.raises(InvalidInputError, match="timezone"):
        history_page(session, user, until=datetime(2026, 1, 1))


def test_feedback_stores_the_engagement_rate(session: Session) -> None:
    user = get_or_create_user(session, "poster@example.com", "Poster")
    variant = _record(session, user).variants[0]
    row = record_feedback(session, user, variant.id, _feedback(), now=NOW)
    unseen = record_feedback(
        session,
        user,
        variant.id,
        _feedback(platform="x", impressions=0, reactions=0, comments=0, shares=0, clicks=0),
        now=NOW,
    )
    session.commit()
    session.expire_all()

    # (reactions + comments + shares) / impressions; the 60 clicks do not count.
    assert session.get_one(PerformanceFeedback, row.id).engagement_rate == pytest.approx(0.04)
    assert session.get_one(PerformanceFeedback, unseen.id).engagement_rate is None
    assert row.platform == "linkedin"
    assert row.recorded_at == NOW


def test_engagement_rate_formula() -> None:
    assert engagement_rate(impressions=200, reactions=6, comments=3, shares=1) == 0.05
    assert engagement_rate(impressions=0, reactions=0, comments=0, shares=0) is None


INVALID_FEEDBACK_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"impressions": -1}, "impressions: Input should be greater than or equal to 0"),
    ({"shares": -3}, "shares"),
    ({"clicks": 2.5}, "clicks"),
    ({"reactions": True}, "reactions"),
    ({"platform": "Linked In"}, "platform"),
    ({"posted_at": datetime(2026, 1, 1, 9, 0)}, "posted_at"),
    ({"posted_at": NOW + timedelta(minutes=1)}, "posted_at .* is in the future"),
    (
        {"impressions": 1, "reactions": 1, "comments": 1, "shares": 1},
        "add up to 3, more than the 1 impressions",
    ),
    ({"impressions": 0, "reactions": 0, "comments": 0, "shares": 2}, "more than the 0 imp"),
    ({"posted_at": NOW - timedelta(days=32)}, "posted_at .* is before the variant was drafted"),
]


def test_invalid_feedback_is_refused(session: Session) -> None:
    user = get_or_create_user(session, "sloppy@example.com", "Sloppy")
    variant = _record(session, user).variants[0]
    for change, message in INVALID_FEEDBACK_CHANGES:
        with pytest.raises(InvalidInputError, match=message):
            record_feedback(session, user, variant.id, _feedback(**change), now=NOW)
    assert session.scalar(select(func.count()).select_from(PerformanceFeedback)) == 0


def test_feedback_may_say_it_was_posted_up_to_a_day_before_the_draft(session: Session) -> None:
    """Exports that give the day only are written as midnight, before the draft was made."""
    user = get_or_create_user(session, "daily@example.com", "Daily")
    variant = _record(session, user).variants[0]
    drafted = variant.created_at
    that_day = drafted - timedelta(hours=23)
    row = record_feedback(session, user, variant.id, _feedback(posted_at=that_day), now=NOW)
    assert row.posted_at == that_day
    with pytest.raises(InvalidInputError, match="before the variant was drafted"):
        record_feedback(
            session, user, variant.id, _feedback(posted_at=drafted - timedelta(hours=25)), now=NOW
        )


def test_feedback_for_an_unknown_variant_is_not_found(session: Session) -> None:
    user = get_or_create_user(session, "lost@example.com", "Lost")
    missing = uuid.uuid4()
    with pytest.raises(NotFoundError, match=str(missing)) as caught:
        record_feedback(session, user, missing, FeedbackRecord.model_validate(_feedback()), now=NOW)
    assert isinstance(caught.value, AppDbError)


def test_active_patterns_are_the_users_and_the_global_ones(session: Session) -> None:
    user = get_or_create_user(session, "learner@example.com", "Learner")
    other = get_or_create_user(session, "someone@example.com", "Someone")

    def pattern(owner: User | None, name: str, confidence: float, active: bool = True) -> None:
        session.add(
            LearningPattern(
                user_id=owner.id if owner else None,
                pattern_type="hook_type",
                pattern_data={"name": name, "effect": 0.2, "samples": 40},
                confidence=confidence,
                active=active,
            )
        )

    pattern(user, "mine", 0.7)
    pattern(user, "mine, retired", 0.99, active=False)
    pattern(None, "global", 0.9)
    pattern(None, "global, retired", 0.95, active=False)
    pattern(other, "theirs", 0.8)
    session.commit()

    # The user's own first (the engine follows theirs over a global one), then by confidence.
    names = [p.pattern_data["name"] for p in active_learning_patterns(session, user)]
    assert names == ["mine", "global"]
    everything = active_learning_patterns(session, user, include_inactive=True)
    assert [p.pattern_data["name"] for p in everything] == [
        "mine, retired",
        "mine",
        "global, retired",
        "global",
    ]
    assert [p.pattern_data["name"] for p in active_learning_patterns(session, None)] == ["global"]


def test_unlearned_feedback_is_what_arrived_after_the_patterns_last_changed(
    session: Session,
) -> None:
    user = get_or_create_user(session, "waiting@example.com", "Waiting")
    variant = _record(session, user).variants[0]
    assert oldest_unlearned_feedback(session) is None

    first = NOW - timedelta(hours=30)
    early = _feedback(platform="x", posted_at=first - timedelta(hours=1))
    record_feedback(session, user, variant.id, early, now=first)
    record_feedback(session, user, variant.id, _feedback(), now=NOW - timedelta(hours=2))
    session.commit()
    # No patterns yet: every feedback waits, the oldest the longest.
    assert oldest_unlearned_feedback(session) == first

    session.add(
        LearningPattern(
            user_id=None,
            pattern_type="hook_type",
            pattern_data={"name": "learned"},
            confidence=0.5,
            updated_at=NOW - timedelta(hours=10),
        )
    )
    session.commit()
    assert oldest_unlearned_feedback(session) == NOW - timedelta(hours=2)

    session.execute(update(LearningPattern).values(updated_at=NOW))
    session.commit()
    assert oldest_unlearned_feedback(session) is None
