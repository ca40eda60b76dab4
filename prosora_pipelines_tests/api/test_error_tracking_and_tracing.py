"""Why: in production an operator learns of a fault from Sentry and follows a slow request
through its trace. A Sentry event must name the fault and the request id the user was
shown, and carry none of the user's text, tokens or keys; a request's trace must reach
the database, LanceDB and the LLM call, as children of the request's span."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from prosora_pipelines.lib.telemetry.tracing import start_tracing, stop_tracing
from prosora_pipelines_tests.api.conftest import QUERY_TEXT, ApiUser, MakeApi, assert_error
from prosora_pipelines_tests.support.llm_servers import LLMServer, malformed
from prosora_pipelines_tests.support.sentry_server import SentryServer

SECRET = "sk-live-0123456789SECRET"


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[SentryServer]:
    with SentryServer() as server:
        monkeypatch.setenv("SENTRY_DSN", server.dsn)
        monkeypatch.setenv("SENTRY_ENVIRONMENT", "test")
        yield server
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_an_unhandled_fault_reaches_sentry_with_its_request_id_and_no_user_text(
    make_api: MakeApi, sentry: SentryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api()
    alice = ApiUser(api, "alice@example.com")
    engine = api.app.state.context.query_engine()

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        return {}[f"{QUERY_TEXT} {SECRET}"]  # a fault whose message quotes user text

    monkeypatch.setattr(engine.generator, "generate", broken)
    failed = alice.post("/queries", json={"text": QUERY_TEXT})
    request_id = assert_error(failed, 500, "internal_error")["request_id"]
    sentry_sdk.flush(timeout=10)

    [event] = sentry.events()
    [exception] = event["exception"]["values"]
    assert exception["type"] == "KeyError"
    assert exception["stacktrace"]["frames"][-1]["function"] == "broken"
    assert event["tags"]["request_id"] == request_id
    assert event["tags"]["service"] == "api" and event["environment"] == "test"
    raw = b"".join(envelope.raw for envelope in sentry.envelopes)
    for leaked in (QUERY_TEXT, SECRET, "Bearer", alice.headers["Authorization"].split()[1]):
        assert leaked.encode() not in raw, leaked
    assert all("vars" not in frame for frame in exception["stacktrace"]["frames"])


def test_no_dsn_sends_nothing_and_starts_no_client(make_api: MakeApi) -> None:
    api = make_api()
    ApiUser(api, "alice@example.com").get("/search", params={"q": "fintech"})
    assert not sentry_sdk.get_client().is_active()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    start_tracing("api", exporter=exporter)
    yield exporter
    stop_tracing()


def test_a_query_is_traced_through_the_database_lancedb_and_the_llm(
    make_api: MakeApi, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with LLMServer("openai", default=malformed()) as llm:
        api = make_api(generator="openai", llm_base_url=llm.base_url)
        answer = ApiUser(api, "alice@example.com").post("/queries", json={"text": QUERY_TEXT})
    assert answer.status_code == 201, answer.text
    finished = spans.get_finished_spans()
    [request] = [span for span in finished if span.name == "POST /api/v1/queries"]
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 201
    assert request.attributes["prosora.request_id"] == answer.headers["x-request-id"]
    in_request = [
        span
        for span in finished
        if span.context is not None
        and request.context is not None
        and span.context.trace_id == request.context.trace_id
        and span is not request
    ]
    names = {span.name for span in in_request}
    assert "lancedb.search" in names and "llm.complete" in names
    assert {"db INSERT", "db SELECT"} <= names
    for span in in_request:  # every one is inside the request's span
        assert span.start_time is not None and request.start_time is not None
        assert span.start_time >= request.start_time
    everything = " ".join(str(span.attributes) + span.name for span in finished)
    assert QUERY_TEXT not in everything and SECRET not in everything
