"""The evidence behind drafts that did better than their author usually does.

What a user's readers responded to says which articles were worth finding for that user's
questions; the embedding fine-tune learns from it. "Better" is relative to the author's own
median, because engagement rates differ several-fold between accounts and formats, and a
global threshold would keep only the biggest account's drafts.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import PerformanceFeedback, Query, Variant


def citations_of_well_received_drafts(session: Session) -> list[tuple[str, str, str]]:
    """(query text, cited article id, user id) for every citation of a draft whose mean
    recorded engagement rate is above its author's median. Users with fewer than three rated
    drafts have no meaningful median and contribute nothing."""
    rates = (
        select(
            PerformanceFeedback.variant_id,
            func.avg(PerformanceFeedback.engagement_rate).label("rate"),
        )
        .where(PerformanceFeedback.engagement_rate.is_not(None))
        .group_by(PerformanceFeedback.variant_id)
        .subquery()
    )
    rated = session.execute(
        select(Query.user_id, Query.text, Variant.citations, rates.c.rate)
        .join(Variant, Variant.query_id == Query.id)
        .join(rates, rates.c.variant_id == Variant.id)
    ).all()
    by_user: dict[uuid.UUID, list[tuple[str, list[dict[str, object]], float]]] = defaultdict(list)
    for user_id, text, citations, rate in rated:
        by_user[user_id].append((text, citations or [], float(rate)))
    rows: list[tuple[str, str, str]] = []
    for user_id, drafts in by_user.items():
        if len(drafts) < 3:
            continue
        median = statistics.median(rate for _, _, rate in drafts)
        for text, citations, rate in drafts:
            if rate <= median:
                continue
            rows.extend(
                (text, str(citation["article_id"]), str(user_id))
                for citation in citations
                if citation.get("article_id")
            )
    return rows
