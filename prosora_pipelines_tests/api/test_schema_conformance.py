"""Why: clients are generated from the OpenAPI document, so what the API does must be what
the document says. Schemathesis (test_schemathesis) found each of these disagreements; each
is pinned here with the exact request, so a regression names itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prosora_pipelines.api.errors import STATUS_CODES
from prosora_pipelines_tests.api.conftest import API, Api, ApiUser, assert_error

FEEDBACK = {
    "platform": "linkedin",
    # Within the day before the variant is drafted, as a posting time may be.
    "posted_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    "impressions": 1000,
    "reactions": 40,
    "comments": 3,
    "shares": 2,
}


def _documented(api: Api, path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = api.app.openapi()["paths"][API + path][method]["responses"]
    return responses


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/queries"),
        ("POST", "/queries/stream"),
        ("PUT", "/users/me/profile"),
        ("POST", "/variants/00000000-0000-4000-8000-000000000000/feedback"),
    ],
)
def test_an_unreadable_json_body_is_invalid_input_like_malformed_json(
    api: Api, method: str, path: str
) -> None:
    alice = ApiUser(api, "alice@example.com")
    json_type = {"Content-Type": "application/json"}
    for body in (b"\xff\xfe{", b'{"text": "caf\xe9"}', b"{"):
        error = assert_error(alice.request(method, path, content=body, headers=json_type), 422)
        assert error["code"] == STATUS_CODES[422]
    assert "400" not in _documented(
        api, path.replace("00000000-0000-4000-8000-000000000000", "{variant_id}"), method.lower()
    )


def test_a_broken_multipart_upload_is_invalid_input(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    broken = alice.post(
        "/feedback/import",
        content=b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n\xff',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(broken, 422)


def test_the_stream_documents_its_errors_as_json(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    refused = alice.post("/queries/stream", json={"text": ""})
    assert_error(refused, 422)
    assert refused.headers["content-type"] == "application/json"
    documented = _documented(api, "/queries/stream", "post")
    assert list(documented["200"]["content"]) == ["text/event-stream"]
    for status in ("401", "422", "429"):
        assert list(documented[status]["content"]) == ["application/json"], status


def test_numbers_are_not_date_times(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    variant = "00000000-0000-4000-8000-000000000000"
    refused = {
        "history since": alice.get("/users/me/history", params={"since": "0.5"}),
        "history until": alice.get("/users/me/history", params={"until": "1700000000"}),
        "search since": alice.get("/search", params={"q": "fintech", "since": "0"}),
        "query since": alice.post("/queries", json={"text": "fintech", "options": {"since": 0}}),
        "feedback posted_at": alice.post(
            f"/variants/{variant}/feedback", json={**FEEDBACK, "posted_at": 1.5}
        ),
    }
    for name, response in refused.items():
        error = assert_error(response, 422)
        assert "ISO 8601 date and time" in error["message"], (name, error)


def test_empty_time_windows_are_answered_not_refused(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    moment = "2026-11-10T00:00:00Z"
    for since, until in ((moment, moment), (moment, "2026-11-01T00:00:00Z")):
        history = alice.get("/users/me/history", params={"since": since, "until": until})
        assert history.status_code == 200 and history.json()["queries"] == [], history.text
        search = alice.get("/search", params={"q": "fintech", "since": since, "until": until})
        assert search.status_code == 200 and search.json()["hits"] == [], search.text


def test_whole_counts_written_as_decimals_are_counts(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    variant = alice.ask()["variants"][0]["id"]
    decimal = {**FEEDBACK, "impressions": 1000.0, "reactions": 40.0}
    stored = alice.post(f"/variants/{variant}/feedback", json=decimal)
    assert stored.status_code == 201, stored.text
    assert (stored.json()["impressions"], stored.json()["reactions"]) == (1000, 40)
    for bad in (40.5, True, "40"):
        assert_error(
            alice.post(f"/variants/{variant}/feedback", json={**FEEDBACK, "reactions": bad}), 422
        )


def test_a_405_allows_every_method_the_path_serves(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    cases = {
        ("DELETE", "/users/me/profile"): "GET, PUT",
        ("OPTIONS", "/users/me/profile"): "GET, PUT",
        ("PUT", "/queries/00000000-0000-4000-8000-000000000000"): "GET, DELETE",
        ("GET", "/queries/stream"): "POST",
        ("DELETE", "/queries/stream"): "POST",
    }
    for (method, path), allowed in cases.items():
        response = alice.request(method, path)
        assert_error(response, 405)
        assert response.headers["Allow"] == allowed, (method, path)
