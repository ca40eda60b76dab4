"""Why: every failure of the API reaches the writer as a sentence that says what to do: when a
rate limit lifts (from Retry-After), that a token needs renewing, that an import failed on
given lines, that the API is not answering. The event stream is read as the API writes it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prosora_pipelines.app.client import ApiClient, server_sent_events
from prosora_pipelines.app.problems import (
    ApiRequestError,
    problem_from_response,
    retry_after_seconds,
)
from prosora_pipelines_tests.support.loopback_http import LoopbackHTTPServer, Received, Reply

NOW = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
APP_PACKAGE = Path(__file__).resolve().parents[2] / "prosora_pipelines" / "app"


def _envelope(code: str, message: str, details: object = None) -> str:
    return json.dumps(
        {"error": {"code": code, "message": message, "request_id": "r1", "details": details}}
    )


def test_a_rate_limit_says_when_to_retry() -> None:
    problem = problem_from_response(429, {"Retry-After": "37"}, _envelope("rate_limited", "x"), NOW)
    assert problem.message == (
        "Too many requests for now: the API's rate limit allows more in 37 seconds "
        "(at 08:00:37 UTC)."
    )
    assert problem.retry_after_seconds == 37.0
    dated = retry_after_seconds("Sun, 06 Dec 2026 08:01:00 GMT", NOW)
    assert dated == 60.0


def test_refusals_are_explained() -> None:
    assert "sign in again" in problem_from_response(401, {}, _envelope("unauthorized", "x")).message
    outage = problem_from_response(
        503, {"Retry-After": "5"}, _envelope("database_unavailable", "db down"), NOW
    )
    assert outage.message == (
        "The API's database is unavailable right now; try again in 5 seconds (at 08:00:05 UTC)."
    )
    not_ready = problem_from_response(
        503, {}, _envelope("unavailable", "trends have not been materialized yet")
    )
    assert (
        not_ready.message
        == "The API cannot answer this yet: trends have not been materialized yet."
    )
    crash = problem_from_response(500, {}, _envelope("internal_error", "boom"))
    assert (
        crash.message == "The API failed on this request (request id r1); try again, or report it."
    )
    assert problem_from_response(418, {}, "not json").message == (
        "The API answered 418: unexpected answer."
    )


def test_import_errors_are_listed_by_line() -> None:
    details = [
        {"line": 2, "column": "variant_id", "message": "'nope' is not a variant id (a UUID)"},
        {"line": 5, "column": None, "message": "posted_at is in the future"},
    ]
    problem = problem_from_response(422, {}, _envelope("invalid_input", "invalid file", details))
    assert problem.details == [
        "line 2 (variant_id): 'nope' is not a variant id (a UUID)",
        "line 5: posted_at is in the future",
    ]


def test_server_sent_events_are_parsed_as_the_api_writes_them() -> None:
    body = (
        'event: analysis\ndata: {"intent": "x_thread"}\n\n'
        ": heartbeat\n\n"
        'event: variant\ndata: {"id": 1,\ndata:  "text": "a"}\n\n'
        "event: done\ndata: plain text\n\n"
    )
    assert list(server_sent_events(body.splitlines(keepends=True))) == [
        ("analysis", {"intent": "x_thread"}),
        ("variant", {"id": 1, "text": "a"}),
        ("done", "plain text"),
    ]


class _StreamingApi(LoopbackHTTPServer):
    """Answers the query stream with an analysis, then the error event the API sends when
    its worker fails after the stream started (which the real API cannot be made to do on
    demand)."""

    def answer(self, _request: Received) -> Reply:
        body = (
            "event: analysis\ndata: {}\n\n"
            'event: error\ndata: {"status": 503, "message": "no usable article index"}\n\n'
        )
        return Reply(200, body.encode(), {"Content-Type": "text/event-stream"})


def test_an_error_event_mid_stream_raises_a_readable_problem() -> None:
    with _StreamingApi() as server:
        events = ApiClient(server.root_url, "t").stream_query("q", {})
        assert next(events) == ("analysis", {})
        with pytest.raises(
            ApiRequestError, match="The API cannot answer this yet: no usable article index"
        ):
            next(events)


def test_an_api_that_does_not_answer_is_named() -> None:
    with pytest.raises(ApiRequestError) as caught:
        ApiClient("http://127.0.0.1:9", "t").get("/sources")
    assert caught.value.message.startswith("The API at http://127.0.0.1:9 is not answering (")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_app_imports_nothing_of_the_library_api_or_stores() -> None:
    """The app is a client of the API only: of this project it imports its own modules and
    the settings, and no store, batch or server library, directly or through them."""
    files = sorted(APP_PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        ours = {name for name in _imports(path) if name.startswith("prosora_pipelines")}
        allowed = {name for name in ours if name.startswith("prosora_pipelines.app")}
        assert ours - allowed <= {"prosora_pipelines.settings"}, (path, ours - allowed)
    modules = [
        ".".join(path.relative_to(APP_PACKAGE.parent.parent).with_suffix("").parts)
        for path in files
        if path.parent == APP_PACKAGE and path.name not in {"main.py", "__init__.py"}
    ]
    script = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in modules)
        + "print(' '.join(sorted(sys.modules)))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    forbidden = {
        "lancedb",
        "sqlalchemy",
        "dagster",
        "torch",
        "sentence_transformers",
        "fastapi",
        "polars",
        "duckdb",
    }
    assert loaded & forbidden == set()
    assert {name for name in loaded if name.startswith("prosora_pipelines.")} <= {
        *modules,
        "prosora_pipelines.app",
    }
