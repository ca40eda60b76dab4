"""Turning on error tracking and tracing for one process, from the settings: the edge the
API, the app and the Dagster code location each call once as they start."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from prosora_pipelines.lib.telemetry.error_tracking import start_error_tracking
from prosora_pipelines.lib.telemetry.tracing import start_tracing, tracing_enabled
from prosora_pipelines.settings import Settings


def _release() -> str:
    try:
        return f"prosora_pipelines@{version('prosora_pipelines')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "prosora_pipelines@source"


def start_telemetry(
    settings: Settings, service: str, request_id: Callable[[], str | None] = lambda: None
) -> None:
    """Sentry when ``SENTRY_DSN`` is set, OTLP tracing when an endpoint is; else nothing
    (and nothing imported). Safe to call again: a process keeps what it started first."""
    if settings.sentry_dsn is not None:
        import sentry_sdk

        if not sentry_sdk.get_client().is_active():
            start_error_tracking(
                settings.sentry_dsn.get_secret_value(),
                service=service,
                environment=settings.sentry_environment,
                release=_release(),
                request_id=request_id,
            )
    if settings.otlp_endpoint is not None and not tracing_enabled():
        start_tracing(service, endpoint=settings.otlp_endpoint)
