"""Why: "posted in the morning" means the user's morning. Observations must read posting
times in the timezone of the user's profile, the one the engine suggests posting times in,
or a learned time pattern would steer drafts to the wrong hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.appdb.repository import (
    FeedbackRecord,
    QueryRecord,
    VariantRecord,
    get_or_create_user,
    record_feedback,
    record_query,
    upsert_voice_profile,
)
from prosora_pipelines.lib.engagement.observations import (
    featurize,
    feedback_versions,
    read_feedback_posts,
)

POSTED = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # Monday night in UTC


def test_posting_times_are_read_in_the_profiles_timezone(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for email, timezone in (("tokyo@example.com", "Asia/Tokyo"), ("utc@example.com", None)):
            user = get_or_create_user(session, email, email)
            upsert_voice_profile(
                session,
                user,
                {
                    "voice_description": "Plain.",
                    "audience": "founders",
                    "default_formats": ["linkedin_post"],
                    "timezone": timezone,
                },
            )
            stored = record_query(
                session,
                user,
                QueryRecord(
                    text="q",
                    processing_time_ms=1.0,
                    created_at=POSTED - timedelta(hours=1),
                    variants=[
                        VariantRecord(format="linkedin_post", text="A post.", model_version="t")
                    ],
                ),
            )
            record_feedback(
                session,
                user,
                stored.variants[0].id,
                FeedbackRecord(
                    platform="linkedin",
                    posted_at=POSTED,
                    impressions=100,
                    reactions=3,
                    comments=0,
                    shares=0,
                ),
            )
    with sessions() as session:
        posts = read_feedback_posts(session, feedback_versions(session))
    by_zone = {post.timezone: featurize(post) for post in posts}
    assert set(by_zone) == {"Asia/Tokyo", None}
    tokyo, utc = by_zone["Asia/Tokyo"], by_zone[None]
    assert (tokyo.posted_weekday, tokyo.posted_hour) == ("tue", 8)
    assert (utc.posted_weekday, utc.posted_hour) == ("mon", 23)
    engine.dispose()
