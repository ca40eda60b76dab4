"""Why: whatever a client sends must end as a stored row or a 422 that names what is wrong,
the same on both backends. Text with a NUL byte was a 500 on PostgreSQL (which cannot store
NUL; SQLite can, so it showed only there), and feedback figures no post can have (more
interactions than impressions, a post dated before its draft existed) were stored and fed
every analysis. Both are refused at the boundary, by the same rules at the API and in the
CSV import, and nothing is stored. Also: a query that finds no article index answers 503,
but a fault of ours inside the engine (a KeyError, which is a LookupError too) is a 500,
not "no index"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prosora_pipelines_tests.api.conftest import (
    API,
    QUERY_TEXT,
    Api,
    ApiUser,
    MakeApi,
    assert_error,
)

POSTED_AT = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
CSV_HEADER = "variant_id,platform,posted_at,impressions,reactions,comments,shares\n"


def _fields(error: dict[str, Any]) -> set[str]:
    return {detail["field"] for detail in error["details"]}


def _feedback(**changes: Any) -> dict[str, Any]:
    return {
        "platform": "linkedin",
        "posted_at": POSTED_AT.isoformat(),
        "impressions": 100,
        "reactions": 5,
        "comments": 1,
        "shares": 1,
        **changes,
    }


def _csv(*rows: str) -> dict[str, Any]:
    return {"file": ("feedback.csv", (CSV_HEADER + "".join(rows)).encode(), "text/csv")}


def test_control_characters_are_refused_wherever_text_is_stored(
    make_api: MakeApi, database_url: str
) -> None:
    api = make_api(database_url)
    alice = ApiUser(api, "alice@example.com")
    variant_id = alice.ask()["variants"][0]["id"]
    profile = alice.get("/users/me/profile").json()
    editable = {key: profile[key] for key in profile if key not in ("is_default", "updated_at")}

    cases: list[tuple[str, str, dict[str, Any], str, str]] = [
        ("POST", "/queries", {"text": "AI\u0000 regulation"}, "body.text", "U+0000"),
        ("POST", "/queries/stream", {"text": "AI\u0000"}, "body.text", "U+0000"),
        (
            "POST",
            "/queries",
            {"text": QUERY_TEXT, "options": {"sources": ["ok", "bell\u0007"]}},
            "body.options.sources.1",
            "U+0007",
        ),
        (
            "PUT",
            "/users/me/profile",
            {**editable, "voice_description": "dry\u0000wit"},
            "body.voice_description",
            "U+0000",
        ),
        (
            "PUT",
            "/users/me/profile",
            {**editable, "audience": "founders\u001b[31m"},
            "body.audience",
            "U+001B",
        ),
        (
            "PUT",
            "/users/me/profile",
            {**editable, "phrases_to_avoid": ["a\u0085b"]},
            "body.phrases_to_avoid.0",
            "U+0085",
        ),
        (
            "POST",
            f"/variants/{variant_id}/feedback",
            _feedback(platform="linked\u0000in"),
            "body.platform",
            "",
        ),
    ]
    for method, path, body, field, character in cases:
        error = assert_error(alice.request(method, path, json=body), 422, "invalid_input")
        assert field in _fields(error), (path, error)
        assert f"control character ({character})" in error["message"] or not character, error

    imported = alice.post(
        "/feedback/import",
        files=_csv(
            f"{variant_id},x,{POSTED_AT.isoformat()},100,5,1,1\n",
            f"{variant_id},x\0,{POSTED_AT.isoformat()},100,5,1,1\n",
        ),
    )
    error = assert_error(imported, 422)
    assert [(d["line"], d["column"]) for d in error["details"]] == [(3, "platform")]
    assert "control character (U+0000)" in error["message"]

    token = api.token("bob@example.com", name="B\u0000b")
    refused = api.client.get(
        f"{API}/users/me/profile", headers={"Authorization": f"Bearer {token}"}
    )
    assert "invalid user name" in assert_error(refused, 422)["message"]

    # Nothing was stored, and text laid out with tabs and line breaks still is.
    assert [q["text"] for q in alice.get("/users/me/history").json()["queries"]] == [QUERY_TEXT]
    assert alice.get("/users/me/profile").json()["is_default"]
    assert alice.get("/analytics/performance").json()["overall"]["count"] == 0
    laid_out = {**editable, "voice_description": "Short lines.\r\n\t- one\n\t- two"}
    stored = alice.put("/users/me/profile", json=laid_out)
    assert stored.status_code == 200, stored.text
    assert (
        alice.get("/users/me/profile").json()["voice_description"] == laid_out["voice_description"]
    )


def test_impossible_feedback_figures_are_refused(make_api: MakeApi, database_url: str) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    first, second = (variant["id"] for variant in alice.ask()["variants"][:2])
    before_draft = (datetime.now(UTC) - timedelta(days=30)).isoformat()

    refusals: list[tuple[dict[str, Any], str]] = [
        (
            {"impressions": 1, "reactions": 1, "comments": 1, "shares": 1},
            "add up to 3, more than the 1 impressions",
        ),
        ({"impressions": 0, "reactions": 2, "comments": 0, "shares": 0}, "than the 0 impr"),
        ({"reactions": -1}, "greater than or equal to 0"),
        ({"posted_at": before_draft}, "is before the variant was drafted"),
    ]
    for change, message in refusals:
        response = alice.post(f"/variants/{first}/feedback", json=_feedback(**change))
        assert message in assert_error(response, 422, "invalid_input")["message"], change

    broken = _csv(
        f"{first},x,{POSTED_AT.isoformat()},100,5,1,1\n",
        f"{first},linkedin,{POSTED_AT.isoformat()},1,1,1,1\n",
        f"{second},x,{before_draft},100,5,1,1\n",
        f"{second},linkedin,{POSTED_AT.isoformat()},100,-1,1,1\n",
    )
    error = assert_error(alice.post("/feedback/import", files=broken), 422, "invalid_input")
    assert [(d["line"], d["column"]) for d in error["details"]] == [
        (3, None),
        (4, "posted_at"),
        (5, "reactions"),
    ]
    assert "line 3: reactions, comments and shares add up to 3" in error["message"]
    assert alice.get("/analytics/performance").json()["overall"]["count"] == 0

    accepted = alice.post(f"/variants/{first}/feedback", json=_feedback())
    assert accepted.status_code == 201, accepted.text
    assert alice.get("/analytics/performance").json()["overall"]["count"] == 1


def test_no_article_index_is_a_503_but_an_engine_fault_is_a_500(
    make_api: MakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = ApiUser(make_api(home=tmp_path / "empty-home"), "alice@example.com")
    for response in (
        empty.post("/queries", json={"text": QUERY_TEXT}),
        empty.get("/search", params={"q": "AI"}),
    ):
        assert "no article index" in assert_error(response, 503, "unavailable")["message"]

    api: Api = make_api()
    alice = ApiUser(api, "alice@example.com")
    engine = api.app.state.context.query_engine()

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        return {}["a key the engine's own code got wrong"]

    monkeypatch.setattr(engine.generator, "generate", broken)
    failed = alice.post("/queries", json={"text": QUERY_TEXT})
    error = assert_error(failed, 500, "internal_error")
    assert "stored as failed query" in error["message"]
    [stored] = alice.get("/users/me/history").json()["queries"]
    assert stored["status"] == "failed" and stored["id"] in error["message"]
    assert uuid.UUID(stored["id"])
