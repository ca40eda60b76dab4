"""Why: an API on the internet is sent huge bodies, endless texts and bursts, on purpose or
not; every input has a bound and every caller a budget, or one caller can exhaust memory,
the model or the LLM bill for everyone. Bodies are refused whether or not they declare
their length; rate limits spend exactly what the settings say, tell the caller where they
stand, and charge failed authentication to the caller's address. The rate-limit scenario
runs on the in-process limiter and on the Redis one the API processes share (skipped when
Redis is unreachable, except under CI=true)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select

from prosora_pipelines.lib.appdb.models import User as UserRow
from prosora_pipelines_tests.api.conftest import (
    API,
    QUERY_OPTIONS,
    QUERY_TEXT,
    Api,
    ApiUser,
    MakeApi,
    assert_error,
)
from prosora_pipelines_tests.support.redis_server import REDIS_URL, connect_or_skip, delete_keys

# The app's default prefix: its IP keys ("ip:testclient") are shared by every test app.
REDIS_PREFIX = "prosora:ratelimit:"
BODY_LIMIT = 1024
QUERY = {"text": QUERY_TEXT, "options": QUERY_OPTIONS}
CSV_HEADER = "variant_id,platform,posted_at,impressions,reactions,comments,shares\n"


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """Redis with no IP budget left over from other tests; this test's keys are deleted."""
    client = connect_or_skip()
    delete_keys(client, f"{REDIS_PREFIX}ip:*")
    yield client
    delete_keys(client, f"{REDIS_PREFIX}ip:*")
    client.close()


def test_bodies_over_the_limit_are_refused_declared_or_not(make_api: MakeApi) -> None:
    api = make_api(api_max_body_bytes=BODY_LIMIT)
    alice = ApiUser(api, "alice@example.com")
    body = json.dumps({"text": "x" * (BODY_LIMIT + 100)}).encode()

    declared = alice.post("/queries", content=body, headers={"Content-Type": "application/json"})
    assert int(declared.request.headers["Content-Length"]) > BODY_LIMIT
    error = assert_error(declared, 413, "payload_too_large")
    assert str(BODY_LIMIT) in error["message"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    chunked = alice.post("/queries", content=chunks(), headers={"Content-Type": "application/json"})
    assert "Content-Length" not in chunked.request.headers
    assert chunked.request.headers["Transfer-Encoding"] == "chunked"
    assert_error(chunked, 413, "payload_too_large")

    upload = alice.post(
        "/feedback/import", files={"file": ("f.csv", b"variant_id\n" * 200, "text/csv")}
    )
    assert_error(upload, 413, "payload_too_large")
    assert alice.get("/users/me/history").json()["queries"] == []
    small = alice.post("/queries", json={"text": "AI regulation", "options": QUERY_OPTIONS})
    assert small.status_code == 201, "a body under the limit still goes through"


def test_inputs_have_bounds(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    too_long = assert_error(alice.post("/queries", json={"text": "a" * 2001}), 422)
    assert too_long["details"][0]["field"] == "body.text"
    assert "2000" in too_long["details"][0]["problem"]
    assert (
        alice.post(
            "/queries", json={"text": "fintech " * 250, "options": QUERY_OPTIONS}
        ).status_code
        == 201
    )

    assert_error(alice.get("/search", params={"q": "fintech", "k": 51}), 422)
    assert alice.get("/search", params={"q": "fintech", "k": 50}).status_code == 200
    assert_error(alice.get("/search", params={"q": "q" * 501}), 422)
    assert_error(alice.get("/users/me/history", params={"limit": 101}), 422)
    assert alice.get("/users/me/history", params={"limit": 100}).status_code == 200
    assert_error(alice.get("/users/me/history", params={"cursor": "c" * 201}), 422)
    many_sources = [("q", "fintech"), *(("source", f"s{n}") for n in range(51))]
    assert_error(alice.get("/search", params=many_sources), 422)


def test_times_the_index_and_database_cannot_hold_are_refused(api: Api) -> None:
    """Found by schemathesis: years before 1000 broke the index's SQL filters, and times
    that leave the datetime range when converted to UTC broke storing; both were 5xx."""
    alice = ApiUser(api, "alice@example.com")
    variant_id = alice.ask()["variants"][0]["id"]
    for moment in (
        "0587-01-03T13:37:19Z",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
    ):
        assert_error(alice.get("/search", params={"q": "fintech", "since": moment}), 422)
        assert_error(alice.get("/search", params={"q": "fintech", "until": moment}), 422)
        assert_error(alice.get("/users/me/history", params={"since": moment}), 422)
        assert_error(alice.get("/users/me/history", params={"until": moment}), 422)
        asked = alice.post("/queries", json={"text": QUERY_TEXT, "options": {"since": moment}})
        assert assert_error(asked, 422)["details"][0]["field"].startswith("body.options")
        feedback = {
            "platform": "x",
            "posted_at": moment,
            "impressions": 10,
            "reactions": 1,
            "comments": 0,
            "shares": 0,
        }
        assert_error(alice.post(f"/variants/{variant_id}/feedback", json=feedback), 422)
        csv = f"{CSV_HEADER}{variant_id},x,{moment},10,1,0,0\n".encode()
        imported = alice.post("/feedback/import", files={"file": ("f.csv", csv, "text/csv")})
        details = assert_error(imported, 422)["details"]
        assert [(detail["line"], detail["column"]) for detail in details] == [(2, "posted_at")]
    assert len(alice.get("/users/me/history").json()["queries"]) == 1, "no failed query stored"
    assert alice.get("/analytics/performance").json()["overall"]["count"] == 0
    ok = alice.get("/search", params={"q": "fintech", "since": "1000-01-01T00:00:00Z"})
    assert ok.status_code == 200, ok.text


def _limits(response: Any) -> tuple[int, int, int]:
    headers = response.headers
    return (
        int(headers["RateLimit-Limit"]),
        int(headers["RateLimit-Remaining"]),
        int(headers["RateLimit-Reset"]),
    )


def _rate_limit_scenario(api: Api) -> None:
    """With 5 units a minute and queries costing 3."""
    alice = ApiUser(api, "alice@example.com")
    spent = [alice.get("/users/me/profile") for _ in range(5)]
    assert [response.status_code for response in spent] == [200] * 5
    assert [_limits(response)[:2] for response in spent] == [(5, n) for n in (4, 3, 2, 1, 0)]
    assert 1 <= _limits(spent[0])[2] <= 12 and 55 <= _limits(spent[-1])[2] <= 60

    refused = alice.get("/users/me/profile")
    assert_error(refused, 429, "rate_limited")
    assert _limits(refused)[:2] == (5, 0)
    assert 10 <= int(refused.headers["Retry-After"]) <= 12
    assert_error(alice.get("/users/me/history"), 429)

    bob = ApiUser(api, "bob@example.com")
    asked = bob.post("/queries", json=QUERY)
    assert asked.status_code == 201, asked.text
    assert _limits(asked)[:2] == (5, 2), "a query costs api_generation_cost units"
    too_dear = bob.post("/queries", json=QUERY)
    assert_error(too_dear, 429)
    assert 10 <= int(too_dear.headers["Retry-After"]) <= 12
    after = bob.get("/users/me/profile")
    assert (after.status_code, _limits(after)[1]) == (200, 1), "a refused request spends nothing"
    assert len(bob.get("/users/me/history").json()["queries"]) == 1

    # Without a valid token the caller's address pays, one unit per failure.
    anonymous = [
        api.client.get(f"{API}/users/me/profile", headers={"Authorization": f"Bearer guess-{n}"})
        for n in range(5)
    ]
    assert [response.status_code for response in anonymous] == [401] * 5
    guessed = api.client.get(f"{API}/users/me/profile", headers={"Authorization": "Bearer guess"})
    assert_error(guessed, 429)
    assert "Retry-After" in guessed.headers
    # Probes come from that same address and are never limited, however often they call.
    for route in ("/health", "/ready", "/metrics") * 3:
        probed = api.client.get(route)
        assert probed.status_code == 200, (route, probed.text)
        assert "RateLimit-Remaining" not in probed.headers
    again = api.client.get(f"{API}/users/me/profile", headers={"Authorization": "Bearer guess"})
    assert_error(again, 429)
    carol = ApiUser(api, "carol@example.com").get("/users/me/profile")
    assert carol.status_code == 200, "a user with a valid token has a budget of their own"


def test_rate_limits_in_memory(make_api: MakeApi) -> None:
    _rate_limit_scenario(make_api(api_rate_limit_per_minute=5, api_generation_cost=3))


def test_rate_limits_in_redis(make_api: MakeApi, redis_client: redis.Redis) -> None:
    api = make_api(api_rate_limit_per_minute=5, api_generation_cost=3, redis_url=REDIS_URL)
    try:
        _rate_limit_scenario(api)
        with api.app.state.context.sessions() as session:
            user_ids = list(session.scalars(select(UserRow.id)))
        keys = [f"{REDIS_PREFIX}user:{user_id}" for user_id in user_ids]
        assert all(redis_client.exists(key) for key in keys), "budgets live in Redis"
        assert redis_client.exists(f"{REDIS_PREFIX}ip:testclient")
    finally:
        with api.app.state.context.sessions() as session:
            for user_id in session.scalars(select(UserRow.id)):
                redis_client.delete(f"{REDIS_PREFIX}user:{user_id}")
