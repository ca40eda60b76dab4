"""Error tracking with Sentry, for the API, the app and Dagster runs, when a DSN is set.

Events carry what finds the fault and nothing a user wrote or a secret: the exception's
type and stack (file, function, line; no local variables), the service, the release and
the request id that the user also sees in the error body. Exception messages, log
arguments, request bodies, query strings, cookies, headers other than a few harmless ones
and breadcrumbs are removed in ``scrub_event`` before anything leaves the process: a
message can quote a query, a feed's text or a URL with a token in it. Errors that other
libraries log are not sent at all, since their text is formatted before it is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

KEPT_HEADERS = frozenset({"content-type", "content-length", "user-agent", "accept"})
REDACTED = "[removed]"


OWN_LOGGERS = "prosora"


def scrub_event(event: dict[str, Any], request_id: str | None) -> dict[str, Any] | None:
    """``event`` with user text and secrets removed and the request id as a tag; ``None``
    (not sent) for an error logged by another library, whose log text is formatted before
    it is logged (Dagster's step failures quote the exception's message) and so cannot be
    scrubbed: Dagster failures reach Sentry through ``report_failed_run`` instead."""
    logentry = event.get("logentry")
    if isinstance(logentry, dict) and not str(event.get("logger", "")).startswith(OWN_LOGGERS):
        return None
    for exception in event.get("exception", {}).get("values", []):
        if exception.get("value"):
            exception["value"] = REDACTED
        for frame in exception.get("stacktrace", {}).get("frames", []):
            frame.pop("vars", None)
    if isinstance(logentry, dict):
        # A log record's format string is ours; its arguments and the formatted text may be
        # a user's. (An event without one is a message this project wrote: it stays.)
        event["logentry"] = {"message": logentry.get("message", "")}
        event.pop("message", None)
    request = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers") or {}
        event["request"] = {
            "method": request.get("method"),
            "url": str(request.get("url", "")).split("?", 1)[0],
            "headers": {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS},
        }
    for key in ("user", "extra", "breadcrumbs"):
        event.pop(key, None)
    if request_id is not None:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def start_error_tracking(
    dsn: str,
    *,
    service: str,
    environment: str | None,
    release: str,
    request_id: Callable[[], str | None],
) -> None:
    """Send this process's errors to Sentry, scrubbed. Call once, at the process's edge."""
    import sentry_sdk  # imported only when a DSN is set: no cost on the default path

    def before_send(event: Any, _hint: Any) -> Any:
        return scrub_event(event, request_id())

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        include_local_variables=False,
        max_breadcrumbs=0,
        traces_sample_rate=None,  # tracing goes through OpenTelemetry (lib/telemetry/tracing.py)
        before_send=before_send,
    )
    sentry_sdk.set_tag("service", service)


def report_failed_run(
    job: str, run_id: str, failed_steps: list[str], error_types: list[str]
) -> None:
    """One Sentry event for a failed Dagster run: which job, run and steps, and the error
    types (never their messages). Grouped per job and failing steps, so a source that keeps
    failing is one issue with a count, not a flood."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("dagster.job", job)
        scope.set_tag("dagster.run_id", run_id)
        scope.set_tag("dagster.steps", ",".join(sorted(failed_steps)) or "none")
        scope.set_context("dagster", {"error_types": sorted(set(error_types))})
        scope.fingerprint = ["dagster-run-failure", job, *sorted(failed_steps)]
        sentry_sdk.capture_message(f"Dagster run of {job} failed", level="error")
