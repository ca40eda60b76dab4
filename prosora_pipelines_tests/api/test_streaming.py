"""Why: the event stream is how a browser shows a query's answer as it forms, so its events
must come in the documented order with payloads a client can use, end with the stored
result, and a client that goes away must neither lose the query nor leave work running
unseen: the query is stored anyway. An invalid request must fail like any other request,
not as a stream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prosora_pipelines_tests.api.conftest import (
    API,
    QUERY_OPTIONS,
    QUERY_TEXT,
    Api,
    ApiUser,
    assert_error,
)

STREAM = f"{API}/queries/stream"


@dataclass(frozen=True)
class Event:
    name: str
    data: Any


def _events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-Sent Events parsed from the stream's lines (comments, such as heartbeats,
    are skipped; every data payload is JSON)."""
    name, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield Event(name, json.loads("\n".join(data)))
            name, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if data:
        yield Event(name, json.loads("\n".join(data)))


def test_a_streamed_query_sends_each_phase_then_the_stored_result(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    body = {"text": QUERY_TEXT, "options": QUERY_OPTIONS}
    with api.client.stream("POST", STREAM, json=body, headers=alice.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["X-Request-ID"]
        events = list(_events(response.iter_lines()))

    names = [event.name for event in events]
    # The query is a topic with no format named, so it is answered directly before the drafts.
    assert names == ["analysis", "evidence", "answer", "variant", "variant", "variant", "done"]
    analysis, evidence, answer, *variants, done = (event.data for event in events)
    assert analysis["intent"] and analysis["keywords"]
    assert isinstance(evidence, list) and evidence
    assert all(item["ref"] >= 1 and item["url"].startswith("https://") for item in evidence)
    refs = {item["ref"] for item in evidence}
    for variant in variants:
        assert variant["id"] and variant["format"] == "linkedin_post" and variant["text"]
        assert variant["prediction"]["kind"] == "prior"
        assert {citation["ref"] for citation in variant["citations"]} <= refs
    assert done["status"] == "completed"
    assert [variant["id"] for variant in done["variants"]] == [v["id"] for v in variants]
    assert done["analysis"] == analysis and done["evidence"] == evidence
    assert done["answer"] == answer and answer["sentences"]
    assert {citation["ref"] for citation in answer["citations"]} <= refs

    stored = alice.get(f"/queries/{done['query_id']}")
    assert stored.status_code == 200, stored.text
    assert [variant["id"] for variant in stored.json()["variants"]] == [v["id"] for v in variants]
    assert api.client.get("/metrics").text.count("prosora_streams_in_flight 0.0") == 1


def test_a_client_that_goes_away_still_gets_its_query_stored(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    body = {"text": QUERY_TEXT, "options": QUERY_OPTIONS}
    with api.client.stream("POST", STREAM, json=body, headers=alice.headers) as response:
        assert response.status_code == 200
        first = next(_events(response.iter_lines()))
    assert first.name == "analysis"

    deadline = time.monotonic() + 5
    queries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        queries = alice.get("/users/me/history").json()["queries"]
        if queries:
            break
        time.sleep(0.05)
    assert len(queries) == 1, "the query is stored although its client left"
    assert queries[0]["text"] == QUERY_TEXT
    assert queries[0]["status"] in {"completed", "partial"}
    time.sleep(0.2)
    assert len(alice.get("/users/me/history").json()["queries"]) == 1, "stored exactly once"


def test_an_invalid_request_is_an_error_not_a_stream(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    invalid = api.client.post(STREAM, json={"text": ""}, headers=alice.headers)
    error = assert_error(invalid, 422, "invalid_input")
    assert invalid.headers["content-type"] == "application/json"
    assert error["details"][0]["field"] == "body.text"
    assert_error(api.client.post(STREAM, json={"text": QUERY_TEXT}), 401)
    assert alice.get("/users/me/history").json()["queries"] == []
