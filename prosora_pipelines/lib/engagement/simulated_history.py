"""The demo's feedback history: posts and the engagement a *simulated* audience gave them.

``make demo`` has no real engagement to learn from, so the bundled sample carries a history
made by the engagement simulator of the tests (``prosora_pipelines_tests/support``; the
command that writes the file is in ``simulated_history_file.py`` there, and a test checks the
committed file is exactly what it writes). Every record says ``"simulated": true``, and what
is imported says so too: each post is stored as a variant of a query whose text is
``SIMULATED_QUERY_TEXT``, written by the generator ``SIMULATED_GENERATOR``, so no one takes
the figures, or what is learned from them, for a real audience's.

A record (one JSON object per line)::

    {"simulated": true, "id": "simulated-0001", "format": "linkedin_post",
     "hook_type": "story", "text": "...", "platform": "linkedin",
     "drafted_at": "ISO 8601", "posted_at": "ISO 8601",
     "impressions": 1800, "reactions": 40, "comments": 7, "shares": 3}

Importing is idempotent: a user who already has the simulated history gets nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import Query, User
from prosora_pipelines.lib.appdb.repository import (
    FeedbackRecord,
    QueryRecord,
    VariantRecord,
    record_feedback_batch,
    record_query,
)

SAMPLE_HISTORY = (
    Path(__file__).parents[2] / "catalogs" / "sample" / "feedback" / ("simulated_history.jsonl")
)
SIMULATED_QUERY_TEXT = "Simulated post history (engagement simulator, not real engagement)"
SIMULATED_GENERATOR = "engagement-simulator"


def read_history(path: Path = SAMPLE_HISTORY) -> list[dict[str, Any]]:
    """The records of a history file, in order."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def write_history(records: Sequence[Mapping[str, Any]], path: Path = SAMPLE_HISTORY) -> None:
    """Write ``records`` one JSON object per line, keys sorted, so the file diffs well."""
    lines = [json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in records]
    path.write_text("".join(lines), encoding="utf-8")


def has_simulated_history(session: Session, user: User) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(Query)
        .where(Query.user_id == user.id, Query.text == SIMULATED_QUERY_TEXT)
    )
    return bool(count)


def import_simulated_history(
    session: Session, user: User, records: Sequence[Mapping[str, Any]]
) -> int:
    """Store each simulated post as a query with one variant, drafted when the record says,
    and its figures as feedback; the number of posts stored (0 when the user has them)."""
    if has_simulated_history(session, user):
        return 0
    entries: list[tuple[Any, FeedbackRecord]] = []
    for record in records:
        if record.get("simulated") is not True:
            raise ValueError(f"record {record.get('id')} is not marked simulated")
        stored = record_query(
            session,
            user,
            QueryRecord(
                text=SIMULATED_QUERY_TEXT,
                results={"simulated": True, "history_id": record["id"]},
                processing_time_ms=0.0,
                created_at=datetime.fromisoformat(record["drafted_at"]),
                variants=[
                    VariantRecord(
                        format=record["format"],
                        text=record["text"],
                        hook_type=record["hook_type"],
                        model_version=SIMULATED_GENERATOR,
                    )
                ],
            ),
        )
        entries.append(
            (
                stored.variants[0].id,
                FeedbackRecord(
                    platform=record["platform"],
                    posted_at=datetime.fromisoformat(record["posted_at"]),
                    impressions=record["impressions"],
                    reactions=record["reactions"],
                    comments=record["comments"],
                    shares=record["shares"],
                ),
            )
        )
    record_feedback_batch(session, user, entries)
    return len(entries)
