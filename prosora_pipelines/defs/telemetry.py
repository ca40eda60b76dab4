"""Error tracking and tracing for Dagster: started when the code location loads (code
server, run workers, Celery step workers), a span per asset materialization, and a Sentry
event per failed run when ``SENTRY_DSN`` is set."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from prosora_pipelines.lib.telemetry.error_tracking import report_failed_run
from prosora_pipelines.lib.telemetry.tracing import span
from prosora_pipelines.settings import get_settings
from prosora_pipelines.telemetry import start_telemetry

Body = TypeVar("Body", bound=Callable[..., Any])


def traced_materialization(body: Body) -> Body:
    """A span around each run of an asset ``body`` whose first argument is its context."""

    @wraps(body)
    def traced(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        with span(
            f"materialize {context.asset_key.to_user_string()}",
            **{
                "dagster.run_id": context.run.run_id,
                "dagster.asset": context.asset_key.to_user_string(),
            },
        ):
            return body(context, *args, **kwargs)

    return traced  # type: ignore[return-value]


def _root_cause(error: SerializableErrorInfo) -> str:
    """The class of the error a step raised, under Dagster's own wrapping errors."""
    while error.cause is not None:
        error = error.cause
    return error.cls_name or "unknown"


@dg.run_failure_sensor(name="failed_runs_to_sentry", default_status=dg.DefaultSensorStatus.RUNNING)
def failed_runs_to_sentry(context: dg.RunFailureSensorContext) -> None:
    """Reports each failed run to Sentry: job, run id, failing steps and error types."""
    failures = context.get_step_failure_events()
    report_failed_run(
        context.dagster_run.job_name,
        context.dagster_run.run_id,
        [event.step_key for event in failures if event.step_key is not None],
        [
            _root_cause(event.step_failure_data.error)
            for event in failures
            if event.step_failure_data.error is not None
        ],
    )


@dg.definitions
def telemetry() -> dg.Definitions:
    settings = get_settings()
    start_telemetry(settings, "dagster")
    return dg.Definitions(sensors=[failed_runs_to_sentry] if settings.sentry_dsn else [])
