"""Why: the embedding fine-tune learns which evidence a user's readers responded to. Only
citations of drafts that beat their own author's median may count, on both backends, or the
biggest account's drafts would decide for everyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.repository import get_or_create_user, record_feedback, record_query
from prosora_pipelines.lib.appdb.well_received_drafts import citations_of_well_received_drafts

DRAFTED = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _draft(session: Session, email: str, query: str, article: str, interactions: int) -> None:
    user = get_or_create_user(session, email, email.split("@")[0])
    variant: dict[str, Any] = {
        "format": "linkedin_post",
        "text": f"A draft about {query}.",
        "hook_type": "data",
        "citations": [{"article_id": article, "url": f"https://example.com/{article}"}],
        "predicted_engagement": 0.03,
        "prediction_reasons": [],
        "model_version": "prior",
    }
    stored = record_query(
        session,
        user,
        {
            "text": query,
            "options": {},
            "analysis": {},
            "results": {},
            "metrics": {},
            "model_versions": {},
            "processing_time_ms": 1.0,
            "created_at": DRAFTED,
            "variants": [variant],
        },
    )
    record_feedback(
        session,
        user,
        stored.variants[0].id,
        {
            "platform": "linkedin",
            "posted_at": DRAFTED + timedelta(hours=2),
            "impressions": 1000,
            "reactions": interactions,
            "comments": 0,
            "shares": 0,
            "clicks": 0,
        },
        now=DRAFTED + timedelta(days=2),
    )


def test_only_drafts_above_their_authors_median_count(session: Session) -> None:
    for query, article, interactions in [
        ("stablecoin rules", "a-low", 10),
        ("neobank margins", "a-mid", 20),
        ("agent payments", "a-high", 40),
    ]:
        _draft(session, "big@example.com", query, article, interactions)
    # A small account: every draft below the big account's median, one above its own.
    for query, article, interactions in [
        ("privacy fines", "b-low", 1),
        ("model audits", "b-mid", 2),
        ("credit scoring", "b-high", 5),
    ]:
        _draft(session, "small@example.com", query, article, interactions)
    # Too few rated drafts for a median: never counted.
    _draft(session, "new@example.com", "chip exports", "c-only", 90)
    session.commit()

    rows = citations_of_well_received_drafts(session)

    assert sorted((query, article) for query, article, _ in rows) == [
        ("agent payments", "a-high"),
        ("credit scoring", "b-high"),
    ]
