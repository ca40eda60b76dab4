"""The learning job, the sensor that runs it when feedback arrives, and its daily schedule."""

import json
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import func, select

from prosora_pipelines.defs.engagement.assets import (
    engagement_model,
    engagement_observations,
    learning_patterns,
)
from prosora_pipelines.defs.engagement.resources import AppDatabaseResource, LearningResource
from prosora_pipelines.lib.appdb.engine import reading
from prosora_pipelines.lib.appdb.models import PerformanceFeedback
from prosora_pipelines.lib.engagement.inbox import import_inbox

engagement_job = dg.define_asset_job(
    name="engagement",
    selection=dg.AssetSelection.assets(
        engagement_observations, learning_patterns, engagement_model
    ),
    description=(
        "Learn from recorded engagement: observations, learning patterns, and an engagement "
        "model promoted only when it beats the current one."
    ),
)

daily_learning = dg.ScheduleDefinition(
    name="daily_learning",
    job=engagement_job,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Run the learning job every night, whatever arrived.",
)


@dg.sensor(
    job=engagement_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING
)
def feedback_arrival(
    context: dg.SensorEvaluationContext,
    app_database: AppDatabaseResource,
    learning: LearningResource,
) -> dg.SensorResult | dg.SkipReason:
    """Runs the learning job when enough new feedback arrived, or a CSV file landed in the
    feedback inbox.

    The cursor is the newest ``recorded_at`` of the feedback it has acted on; rows recorded
    after it are new (a replaced snapshot counts again, as it changes an observation). A CSV
    file in ``PROSORA_HOME/feedback_inbox/`` is imported for ``PROSORA_USER_EMAIL`` and moved
    to ``imported/``, or to ``rejected/`` with a ``.errors.txt`` saying why; either way the
    file is kept and the outcome is in the sensor's log.
    """
    sessions = app_database.sessions()
    now = datetime.now(UTC)
    inbox = import_inbox(learning.inbox, sessions, learning.inbox_user_email, now)
    for name, report in inbox.imported:
        context.log.info(f"imported {name}: {report.created} new, {report.updated} updated")
    for name, problem in inbox.rejected:
        context.log.warning(f"rejected {name}, moved to rejected/: {problem}")
    cursor = json.loads(context.cursor) if context.cursor else {}
    since = datetime.fromisoformat(cursor["recorded_at"]) if "recorded_at" in cursor else None
    with reading(sessions).begin() as session:
        query = select(func.count(), func.max(PerformanceFeedback.recorded_at))
        if since is not None:
            query = query.where(PerformanceFeedback.recorded_at > since)
        new, newest = session.execute(query).one()
    enough = new >= learning.min_new_observations
    if not enough and not inbox.imported:
        return dg.SkipReason(
            f"{new} new feedback rows, fewer than {learning.min_new_observations}"
            + (f"; {len(inbox.rejected)} inbox file(s) rejected" if inbox.rejected else "")
        )
    marker = newest.isoformat() if newest is not None else cursor.get("recorded_at", "none")
    reason = "csv-inbox" if inbox.imported else "new-feedback"
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"feedback-until-{marker}",
                tags={"prosora/trigger": reason, "prosora/new_feedback": str(new)},
            )
        ],
        cursor=json.dumps({"recorded_at": marker} if newest is not None else cursor),
    )
