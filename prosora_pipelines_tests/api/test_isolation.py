"""Why: ids travel in URLs, CSV files and logs, so one user will sooner or later hold
another's query or variant id. Every route that takes such an id must answer exactly as if
it did not exist (404, or the import's "unknown variant", with the same message), change
nothing, and every route returning user data must return only the caller's. Seeded through
the API itself and run on SQLite and PostgreSQL, whose queries differ."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines_tests.api.conftest import (
    Api,
    ApiUser,
    MakeApi,
    add_pattern,
    assert_error,
)

POSTED_AT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
CSV_HEADER = "variant_id,platform,posted_at,impressions,reactions,comments,shares\n"
# Every route with a path parameter; a new one must be added to the tests below.
ID_ROUTES = {
    ("GET", "/queries/{query_id}"),
    ("DELETE", "/queries/{query_id}"),
    ("POST", "/variants/{variant_id}/feedback"),
    ("GET", "/articles/{article_id}"),  # public catalogue data, not a user's
}


def _feedback(impressions: int, reactions: int) -> dict[str, Any]:
    return {
        "platform": "linkedin",
        "posted_at": POSTED_AT,
        "impressions": impressions,
        "reactions": reactions,
        "comments": 0,
        "shares": 0,
    }


@dataclass
class Seeded:
    """A user with a query, its variants, feedback on the first one and a profile."""

    user: ApiUser
    answer: dict[str, Any]
    query_id: str
    variant_id: str
    profile: dict[str, Any]


def _seed(api: Api, email: str, text: str, voice: str, reactions: int) -> Seeded:
    user = ApiUser(api, email)
    answer = user.ask(text)
    variant_id = answer["variants"][0]["id"]
    assert (
        user.post(f"/variants/{variant_id}/feedback", json=_feedback(1000, reactions)).status_code
        == 201
    )
    profile = {
        "voice_description": voice,
        "audience": f"{email}'s readers",
        "default_formats": ["x_thread"],
    }
    assert user.put("/users/me/profile", json=profile).status_code == 200
    add_pattern(api, email, hook="story", confidence=0.7)
    return Seeded(user, answer, answer["query_id"], variant_id, profile)


@pytest.fixture
def seeded(make_api: MakeApi, database_url: str) -> tuple[Api, Seeded, Seeded]:
    api = make_api(database_url)
    alice = _seed(
        api, "alice@example.com", "Alice asks about AI regulation in fintech", "Alice's voice", 50
    )
    bob = _seed(
        api, "bob@example.com", "Bob asks about product strategy for lenders", "Bob's voice", 10
    )
    return api, alice, bob


def _same_as_missing(response: Any, missing: Any, real_id: str, fake_id: str) -> None:
    """``response`` (about someone else's id) is indistinguishable from ``missing`` (about
    an id that never existed): same status, same code, same message but for the id."""
    error = assert_error(response, missing.status_code)
    expected = assert_error(missing, missing.status_code)
    assert error["code"] == expected["code"]
    assert error["message"].replace(real_id, "<id>") == expected["message"].replace(fake_id, "<id>")


def test_every_route_taking_an_id_is_covered_here(api: Api) -> None:
    paths = api.app.openapi()["paths"]
    with_ids = {
        (method.upper(), path.removeprefix(API_PREFIX))
        for path, operations in paths.items()
        for method in operations
        if "{" in path
    }
    assert with_ids == ID_ROUTES


def test_another_users_query_answers_as_if_it_did_not_exist(
    seeded: tuple[Api, Seeded, Seeded],
) -> None:
    _, alice, bob = seeded
    fake = str(uuid.uuid4())
    _same_as_missing(
        bob.user.get(f"/queries/{alice.query_id}"),
        bob.user.get(f"/queries/{fake}"),
        alice.query_id,
        fake,
    )
    _same_as_missing(
        bob.user.delete(f"/queries/{alice.query_id}"),
        bob.user.delete(f"/queries/{fake}"),
        alice.query_id,
        fake,
    )
    kept = alice.user.get(f"/queries/{alice.query_id}")
    assert kept.status_code == 200, "bob's delete must not touch alice's query"
    assert [v["id"] for v in kept.json()["variants"]] == [v["id"] for v in alice.answer["variants"]]
    assert_error(alice.user.get(f"/queries/{bob.query_id}"), 404)


def test_another_users_variant_takes_no_feedback(seeded: tuple[Api, Seeded, Seeded]) -> None:
    _, alice, bob = seeded
    alice_report = alice.user.get("/analytics/performance").json()
    bob_report = bob.user.get("/analytics/performance").json()
    fake = str(uuid.uuid4())
    _same_as_missing(
        bob.user.post(f"/variants/{alice.variant_id}/feedback", json=_feedback(10, 9)),
        bob.user.post(f"/variants/{fake}/feedback", json=_feedback(10, 9)),
        alice.variant_id,
        fake,
    )

    def upload(variant_id: str) -> Any:
        rows = [f"{bob.variant_id},x,{POSTED_AT},100,1,0,0", f"{variant_id},x,{POSTED_AT},10,9,0,0"]
        data = CSV_HEADER + "\n".join(rows) + "\n"
        return bob.user.post(
            "/feedback/import", files={"file": ("f.csv", data.encode(), "text/csv")}
        )

    theirs, missing = upload(alice.variant_id), upload(fake)
    _same_as_missing(theirs, missing, alice.variant_id, fake)
    error = assert_error(theirs, 422)
    assert error["details"] == [
        {"line": 3, "column": "variant_id", "message": f"variant {alice.variant_id} does not exist"}
    ]
    assert alice.user.get("/analytics/performance").json() == alice_report
    assert bob.user.get("/analytics/performance").json() == bob_report, (
        "bob's own row in the refused file was not stored either"
    )


def test_user_data_routes_return_only_the_callers_data(seeded: tuple[Api, Seeded, Seeded]) -> None:
    api, alice, bob = seeded
    global_pattern = add_pattern(api, None, hook="question", confidence=0.5)
    alice_ids = {alice.query_id, *(variant["id"] for variant in alice.answer["variants"])}

    history = bob.user.get("/users/me/history")
    assert [query["id"] for query in history.json()["queries"]] == [bob.query_id]
    for fmt in ("linkedin_post", "x_thread"):
        assert all(
            query["id"] == bob.query_id
            for query in bob.user.get("/users/me/history", params={"format": fmt}).json()["queries"]
        )
    alice_cursor = alice.user.ask("Alice asks again")["query_id"]
    page = alice.user.get("/users/me/history", params={"limit": 1}).json()
    assert page["queries"][0]["id"] == alice_cursor and page["next_cursor"]
    with_alices_cursor = bob.user.get("/users/me/history", params={"cursor": page["next_cursor"]})
    assert {query["id"] for query in with_alices_cursor.json()["queries"]} <= {bob.query_id}

    profile = bob.user.get("/users/me/profile").json()
    assert (profile["voice_description"], profile["audience"]) == (
        bob.profile["voice_description"],
        bob.profile["audience"],
    )

    report = bob.user.get("/analytics/performance").json()
    assert report["overall"]["count"] == 1
    bob_predicted = bob.user.get(f"/queries/{bob.query_id}").json()["variants"][0][
        "predicted_engagement"
    ]
    assert report["overall"]["mean_absolute_error"] == pytest.approx(abs(bob_predicted - 10 / 1000))

    patterns = bob.user.get("/learning/patterns").json()
    assert {pattern["scope"] for pattern in patterns} == {"user", "global"}
    assert str(global_pattern) in {pattern["id"] for pattern in patterns}
    assert len([pattern for pattern in patterns if pattern["scope"] == "user"]) == 1

    responses = [
        history,
        with_alices_cursor,
        bob.user.get("/users/me/profile"),
        bob.user.get("/analytics/performance"),
        bob.user.get("/learning/patterns"),
    ]
    for response in responses:
        assert not any(alice_id in response.text for alice_id in alice_ids), response.text
        assert "Alice" not in response.text and "alice@" not in response.text

    assert (
        bob.user.put(
            "/users/me/profile", json={**bob.profile, "voice_description": "Bob, edited"}
        ).status_code
        == 200
    )
    assert alice.user.get("/users/me/profile").json()["voice_description"] == "Alice's voice"
    alice_patterns = {pattern["id"] for pattern in alice.user.get("/learning/patterns").json()}
    assert not alice_patterns & {p["id"] for p in patterns if p["scope"] == "user"}
