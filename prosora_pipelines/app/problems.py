"""API failures in the words a writer reads: what happened and what to do, never a traceback.

Every way a request can fail ends here as one ``ApiRequestError`` whose message is meant to be
shown as it is: a refused token says to sign in again, a rate limit says when to retry (from
``Retry-After``), an unreachable API says which address did not answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any


@dataclass
class ApiRequestError(Exception):
    """A request the API refused or could not answer, explained for people."""

    message: str
    status: int | None = None
    code: str | None = None
    retry_after_seconds: float | None = None
    details: list[str] = field(default_factory=list)
    request_id: str | None = None

    def __str__(self) -> str:
        return self.message


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _wait_phrase(seconds: float, now: datetime) -> str:
    whole = max(1, round(seconds))
    at = (now + timedelta(seconds=whole)).strftime("%H:%M:%S UTC")
    unit = "second" if whole == 1 else "seconds"
    return f"in {whole} {unit} (at {at})"


def _detail_lines(details: Any) -> list[str]:
    """The envelope's ``details`` as lines: import errors by line number, fields by name."""
    if not isinstance(details, list):
        return []
    lines = []
    for detail in details:
        if isinstance(detail, dict) and "line" in detail:
            column = f" ({detail['column']})" if detail.get("column") else ""
            lines.append(f"line {detail['line']}{column}: {detail.get('message', detail)}")
        elif isinstance(detail, dict) and "loc" in detail:
            where = ".".join(str(part) for part in detail["loc"] if part != "body")
            lines.append(f"{where}: {detail.get('msg', detail)}")
        else:
            lines.append(str(detail))
    return lines


def problem_from_response(
    status: int,
    headers: dict[str, str],
    body: str,
    now: datetime | None = None,
) -> ApiRequestError:
    """The problem an error answer describes, read from the API's error envelope
    (``{"error": {"code", "message", "request_id", "details"}}``) and its headers."""
    moment = now or datetime.now(UTC)
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        envelope = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    code = envelope.get("code")
    said = str(envelope.get("message") or "").strip()
    request_id = envelope.get("request_id") or lowered.get("x-request-id")
    details = _detail_lines(envelope.get("details"))
    wait = retry_after_seconds(lowered.get("retry-after"), moment)

    if status == 401:
        message = "The API did not accept your token (missing, expired or invalid): sign in again."
    elif status == 403:
        message = f"The API refused this: {said or 'not allowed'}."
    elif status == 404:
        message = f"Not found: {said or 'the API has no such item'}."
    elif status == 413:
        message = "That is too large for the API to accept; send something smaller."
    elif status == 422:
        message = f"The API could not use what was sent: {said or 'invalid input'}"
    elif status == 429:
        when = _wait_phrase(wait, moment) if wait is not None else "in a minute"
        message = f"Too many requests for now: the API's rate limit allows more {when}."
    elif status == 503 and code == "database_unavailable":
        when = _wait_phrase(wait, moment) if wait is not None else "in a few seconds"
        message = f"The API's database is unavailable right now; try again {when}."
    elif status == 503:
        message = f"The API cannot answer this yet: {said or 'unavailable'}."
    elif status >= 500:
        reference = f" (request id {request_id})" if request_id else ""
        message = f"The API failed on this request{reference}; try again, or report it."
    else:
        message = f"The API answered {status}: {said or 'unexpected answer'}."
    return ApiRequestError(
        message=message,
        status=status,
        code=code,
        retry_after_seconds=wait,
        details=details,
        request_id=request_id,
    )


def unreachable(base_url: str, reason: str) -> ApiRequestError:
    """The problem of an API that did not answer at all."""
    return ApiRequestError(
        message=(
            f"The API at {base_url} is not answering ({reason}). Is it running "
            "(`prosora serve`, or `make dev`), and is PROSORA_API_URL right?"
        )
    )


def stream_error(payload: Any) -> ApiRequestError:
    """The problem an ``error`` event of the query stream reports (its status and message)."""
    status = payload.get("status") if isinstance(payload, dict) else None
    said = str(payload.get("message", "")) if isinstance(payload, dict) else str(payload)
    envelope = json.dumps({"error": {"code": None, "message": said}})
    return problem_from_response(int(status) if isinstance(status, int) else 500, {}, envelope)
