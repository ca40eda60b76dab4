"""Why: users should not have to start the learning job. The ``feedback_arrival`` sensor
must run it once enough new feedback arrived (and not before), and must import a CSV export
dropped into the inbox, moving it aside, while a bad file is reported and kept with its
errors, never lost."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine, update

from prosora_pipelines.defs.engagement.automation import feedback_arrival
from prosora_pipelines.defs.engagement.resources import AppDatabaseResource, LearningResource
from prosora_pipelines.lib.appdb.engine import make_session_factory
from prosora_pipelines.lib.appdb.models import Variant
from prosora_pipelines.lib.appdb.repository import (
    QueryRecord,
    VariantRecord,
    get_or_create_user,
    record_feedback,
    record_query,
)

EMAIL = "ana@example.com"
DRAFTED = datetime.now(UTC) - timedelta(days=10)


def _variants(engine: Engine, count: int) -> list[str]:
    with make_session_factory(engine).begin() as session:
        user = get_or_create_user(session, EMAIL, "Ana")
        stored = record_query(
            session,
            user,
            QueryRecord(
                text="q",
                processing_time_ms=1.0,
                variants=[
                    VariantRecord(format="linkedin_post", text=f"post {i}", model_version="t")
                    for i in range(count)
                ],
            ),
        )
        ids = [variant.id for variant in stored.variants]
        session.execute(update(Variant).where(Variant.id.in_(ids)).values(created_at=DRAFTED))
    return [str(i) for i in ids]


def _evaluate(database_url: str, home: Path, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={
            "app_database": AppDatabaseResource(url=database_url),
            "learning": LearningResource(
                home=str(home), inbox_user_email=EMAIL, min_new_observations=3
            ),
        },
    )
    result = feedback_arrival(context)
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


@pytest.mark.usefixtures("engine")
def test_the_sensor_waits_for_enough_feedback_and_imports_the_inbox(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    variants = _variants(engine, 6)
    home = tmp_path / "home"
    posted = (DRAFTED + timedelta(days=1)).isoformat()

    first = _evaluate(database_url, home, None)
    assert isinstance(first, dg.SkipReason)
    assert "0 new feedback rows, fewer than 3" in (first.skip_message or "")

    inbox = home / "feedback_inbox"
    inbox.mkdir(parents=True)
    header = "variant_id,platform,posted_at,impressions,reactions,comments,shares\n"
    (inbox / "good.csv").write_text(
        header + "".join(f"{v},linkedin,{posted},100,5,1,0\n" for v in variants[:2])
    )
    (inbox / "bad.csv").write_text(header + f"{variants[2]},linkedin,{posted},10,50,0,0\n")
    imported = _evaluate(database_url, home, None)
    assert isinstance(imported, dg.SensorResult)
    assert [request.tags["prosora/trigger"] for request in imported.run_requests or []] == [
        "csv-inbox"
    ]
    assert not list(inbox.glob("*.csv"))
    assert [p.name.endswith("-good.csv") for p in (inbox / "imported").iterdir()] == [True]
    rejected = sorted(p.name for p in (inbox / "rejected").iterdir())
    assert rejected[0].endswith("-bad.csv") and rejected[1].endswith("-bad.csv.errors.txt")
    errors = (inbox / "rejected" / rejected[1]).read_text()
    assert "more than the 10 impressions" in errors
    cursor = imported.cursor
    assert cursor is not None and "recorded_at" in json.loads(cursor)

    quiet = _evaluate(database_url, home, cursor)
    assert isinstance(quiet, dg.SkipReason)

    with make_session_factory(engine).begin() as session:
        user = get_or_create_user(session, EMAIL, "Ana")
        for variant in variants[2:5]:
            record_feedback(
                session,
                user,
                uuid.UUID(variant),
                {
                    "platform": "x",
                    "posted_at": posted,
                    "impressions": 50,
                    "reactions": 2,
                    "comments": 0,
                    "shares": 0,
                },
            )
    enough = _evaluate(database_url, home, cursor)
    assert isinstance(enough, dg.SensorResult)
    requests = enough.run_requests or []
    assert [request.tags["prosora/new_feedback"] for request in requests] == ["3"]
    assert enough.cursor != cursor
