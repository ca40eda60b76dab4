"""Why: the API is the product's front door, and each route is a thin wrapper that can
still drop a field, mistranslate an error or leak a stack trace. This drives every route
through the real app over what the `ingest` job materialized: its happy path, its main
refusals, and the one error envelope whose request id matches the X-Request-ID header.
Routes that store user data run on SQLite and PostgreSQL; read-only ones on SQLite."""

from __future__ import annotations

import math
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from prosora_pipelines.api.app import create_app
from prosora_pipelines.lib.query.engine import QueryEngine
from prosora_pipelines.lib.sources.catalog import load_catalog
from prosora_pipelines.query_engine_from_settings import engine_from_settings
from prosora_pipelines.settings import SAMPLE_CATALOG, Settings
from prosora_pipelines_tests.api.conftest import (
    API,
    JWT_SECRET,
    QUERY_TEXT,
    Api,
    ApiUser,
    MakeApi,
    add_pattern,
    assert_error,
)

PHASES = {"analysis", "evidence", "voice", "drafting", "prediction", "persistence"}
# Shortly before the variants are drafted: feedback may not predate its draft by a day.
POSTED_AT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
CSV_HEADER = "variant_id,platform,posted_at,impressions,reactions,comments,shares,clicks\n"


def _feedback(
    impressions: int, reactions: int, comments: int = 0, shares: int = 0
) -> dict[str, Any]:
    return {
        "platform": "LinkedIn",
        "posted_at": POSTED_AT.isoformat(),
        "impressions": impressions,
        "reactions": reactions,
        "comments": comments,
        "shares": shares,
        "clicks": 7,
    }


def _csv(*rows: str) -> dict[str, Any]:
    return {"file": ("feedback.csv", (CSV_HEADER + "".join(rows)).encode(), "text/csv")}


def _row(variant_id: str, impressions: int | str, reactions: int, posted_at: str = "") -> str:
    return f"{variant_id},x,{posted_at or POSTED_AT.isoformat()},{impressions},{reactions},1,1,\n"


def _details(error: dict[str, Any]) -> set[str]:
    return {detail["field"] for detail in error["details"]}


# Queries: ask, read, delete.


def test_a_query_is_answered_stored_read_and_deleted(make_api: MakeApi, database_url: str) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    answer = alice.ask()

    assert answer["text"] == QUERY_TEXT and answer["status"] == "completed"
    assert answer["degraded_reason"] is None
    assert answer["analysis"]["intent"] and answer["analysis"]["keywords"]
    evidence = {item["ref"]: item for item in answer["evidence"]}
    assert evidence and all(item["url"].startswith("https://") for item in evidence.values())
    assert len(answer["variants"]) == 3
    for variant in answer["variants"]:
        assert variant["format"] == "linkedin_post" and variant["text"].strip()
        assert variant["prediction"]["kind"] == "prior"
        assert 0 <= variant["prediction"]["rate"] <= 1 and variant["prediction"]["reasons"]
        assert variant["citations"], "every draft cites its evidence"
        for citation in variant["citations"]:
            cited = evidence[citation["ref"]]
            assert (citation["article_id"], citation["url"]) == (cited["article_id"], cited["url"])
    assert set(answer["timings_ms"]) == PHASES
    assert answer["processing_time_ms"] > 0
    assert set(answer["model_versions"]) == {"embedding", "index", "generator", "predictor"}

    stored = alice.get(f"/queries/{answer['query_id']}")
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert (body["id"], body["text"], body["status"]) == (
        answer["query_id"],
        QUERY_TEXT,
        "completed",
    )
    assert body["model_versions"] == answer["model_versions"]
    assert [v["id"] for v in body["variants"]] == [v["id"] for v in answer["variants"]]
    for kept, given in zip(body["variants"], answer["variants"], strict=True):
        assert kept["citations"] == given["citations"]
        assert kept["predicted_engagement"] == pytest.approx(given["prediction"]["rate"], abs=1e-5)

    deleted = alice.delete(f"/queries/{answer['query_id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (
        "does not exist"
        in assert_error(alice.get(f"/queries/{answer['query_id']}"), 404)["message"]
    )
    assert_error(alice.delete(f"/queries/{answer['query_id']}"), 404, "not_found")
    assert alice.get("/users/me/history").json()["queries"] == []


def test_bad_queries_are_refused_before_anything_is_stored(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"text": ""}, "body.text"),
        (
            {"text": QUERY_TEXT, "options": {"variants_per_format": 5}},
            "body.options.variants_per_format",
        ),
        ({"text": QUERY_TEXT, "options": {"formats": ["podcast"]}}, "body.options.formats.0"),
        ({"text": QUERY_TEXT, "colour": "blue"}, "body.colour"),
        ({}, "body.text"),
    ]
    for body, field in cases:
        error = assert_error(alice.post("/queries", json=body), 422, "invalid_input")
        assert field in _details(error), (body, error)
    blank = assert_error(alice.post("/queries", json={"text": "   "}), 422)
    assert "the text is empty" in blank["message"]
    not_json = alice.post("/queries", content=b"{", headers={"Content-Type": "application/json"})
    assert_error(not_json, 422)
    # Not a UUID names no query: no route serves that path.
    assert_error(alice.get("/queries/not-a-uuid"), 404)
    assert alice.get("/users/me/history").json()["queries"] == []


# History.


def test_history_pages_newest_first_with_filters(make_api: MakeApi, database_url: str) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    first = alice.ask("AI regulation and fintech lending")
    second = alice.ask("AI regulation and fintech lending, as a thread", formats=["x_thread"])
    third = alice.ask("Product strategy under the EU AI Act")

    def ids(**params: Any) -> tuple[list[str], str | None]:
        response = alice.get("/users/me/history", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        return [query["id"] for query in page["queries"]], page["next_cursor"]

    page, cursor = ids(limit=2)
    assert page == [third["query_id"], second["query_id"]] and cursor
    rest, end = ids(limit=2, cursor=cursor)
    assert (rest, end) == ([first["query_id"]], None)
    assert ids() == ([third["query_id"], second["query_id"], first["query_id"]], None)

    assert ids(format="x_thread") == ([second["query_id"]], None)
    assert ids(format="linkedin_post") == ([third["query_id"], first["query_id"]], None)
    assert ids(since=second["created_at"]) == ([third["query_id"], second["query_id"]], None)
    assert ids(until=second["created_at"]) == ([first["query_id"]], None)
    assert ids(since=first["created_at"], until=third["created_at"]) == (
        [second["query_id"], first["query_id"]],
        None,
    )

    history = alice.get("/users/me/history", params={"limit": 1}).json()["queries"][0]
    assert [v["id"] for v in history["variants"]] == [v["id"] for v in third["variants"]]

    assert (
        "not one this API issued"
        in assert_error(alice.get("/users/me/history", params={"cursor": "garbage"}), 422)[
            "message"
        ]
    )
    assert (
        "needs a timezone"
        in assert_error(
            alice.get("/users/me/history", params={"since": "2026-01-01T00:00:00"}), 422
        )["message"]
    )
    # A window that ends before it starts holds no queries (the schema cannot forbid it).
    backwards = {"since": third["created_at"], "until": first["created_at"]}
    assert ids(**backwards) == ([], None)
    assert ids(since=second["created_at"], until=second["created_at"]) == ([], None)
    for params in ({"limit": 0}, {"format": "podcast"}, {"since": "yesterday"}):
        assert_error(alice.get("/users/me/history", params=params), 422)


# Search and articles (read-only: SQLite is enough).


def test_search_finds_articles_and_honours_every_filter(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")

    def hits(**params: Any) -> list[dict[str, Any]]:
        response = alice.get("/search", params={"q": "fintech compliance", **params})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["hits"]
        return found

    top = hits(k=5)
    assert 1 <= len(top) <= 5
    assert [hit["score"] for hit in top] == sorted((hit["score"] for hit in top), reverse=True)
    assert {"article_id", "title", "url", "source_id", "tier", "snippet", "components"} <= set(
        top[0]
    )

    premium = hits(tier="premium", k=20)
    assert premium and {hit["tier"] for hit in premium} == {"premium"}
    two_tiers = hits(tier=["premium", "standard"], k=20)
    assert {hit["tier"] for hit in two_tiers} <= {"premium", "standard"}
    from_one = hits(source="policy-wire")
    assert from_one and {hit["source_id"] for hit in from_one} == {"policy-wire"}
    in_domain = hits(domain="fintech", k=20)
    assert in_domain and all("fintech" in hit["domains"] for hit in in_domain)
    since = datetime(2026, 11, 15, tzinfo=UTC)
    recent = hits(since="2026-11-15T00:00:00Z", k=20)
    assert recent and all(datetime.fromisoformat(hit["published_at"]) >= since for hit in recent)
    full_text = alice.get("/search", params={"q": "sandbox", "mode": "fts"}).json()
    assert full_text["mode"] == "fts" and full_text["hits"]

    for params in ({"k": 0}, {"k": 51}, {"mode": "psychic"}, {"q": ""}, {"since": "soon"}):
        error = assert_error(alice.get("/search", params={"q": "fintech", **params}), 422)
        assert error["details"]
    assert_error(alice.get("/search"), 422)
    naive = assert_error(
        alice.get("/search", params={"q": "fintech", "since": "2026-11-01T00:00:00"}), 422
    )
    assert "since needs a timezone" in naive["message"]
    # An empty window (until not after since) has no hits; the schema cannot forbid it.
    for until in ("2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"):
        window = {"q": "fintech", "since": "2026-11-10T00:00:00Z", "until": until}
        empty = alice.get("/search", params=window)
        assert empty.status_code == 200 and empty.json()["hits"] == [], empty.text


def test_an_article_is_read_by_its_id(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    hit = alice.get("/search", params={"q": "regulatory sandboxes", "k": 1}).json()["hits"][0]
    response = alice.get(f"/articles/{hit['article_id']}")
    assert response.status_code == 200, response.text
    article = response.json()
    assert (article["id"], article["title"], article["url"], article["source_id"]) == (
        hit["article_id"],
        hit["title"],
        hit["url"],
        hit["source_id"],
    )
    assert len(article["text"]) > len(hit["snippet"]) / 2 and article["duplicate_of"] is None
    missing = assert_error(alice.get("/articles/no-such-article"), 404, "not_found")
    assert "no-such-article does not exist" in missing["message"]


def test_sources_list_the_catalog_with_its_health(api: Api) -> None:
    response = ApiUser(api, "alice@example.com").get("/sources")
    assert response.status_code == 200, response.text
    sources = {source["id"]: source for source in response.json()}
    catalog = load_catalog(SAMPLE_CATALOG)
    assert set(sources) == {source.id for source in catalog.sources}
    for source in catalog.sources:
        listed = sources[source.id]
        assert (listed["tier"], listed["enabled"]) == (source.tier.value, source.enabled)
        assert listed["credibility"] == pytest.approx(source.credibility)
        if source.enabled:
            assert listed["fetches"] >= 1, listed


def test_trends_report_topics_and_megatrends(api: Api) -> None:
    response = ApiUser(api, "alice@example.com").get("/trends")
    assert response.status_code == 200, response.text
    trends = response.json()
    assert datetime.fromisoformat(trends["recent_from"]) < datetime.fromisoformat(
        trends["recent_until"]
    )
    assert trends["topics"] and trends["megatrends"]
    for topic in trends["topics"]:
        assert topic["label"] and topic["label_terms"] and topic["article_ids"]
        assert topic["recent_articles"] >= 1
    assert all(0 <= megatrend["recent_share"] <= 1 for megatrend in trends["megatrends"])


# Profile.


def test_the_voice_profile_defaults_then_is_replaced(make_api: MakeApi, database_url: str) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    default = alice.get("/users/me/profile").json()
    assert default["is_default"] is True and default["updated_at"] is None

    profile = {
        "voice_description": "Dry, numerate, sceptical.",
        "frameworks": ["jobs to be done", "Jobs to be done"],
        "phrases_to_use": ["in short"],
        "phrases_to_avoid": ["synergy"],
        "audience": "fintech product leads",
        "default_formats": ["x_thread"],
    }
    replaced = alice.put("/users/me/profile", json=profile)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["is_default"] is False and replaced.json()["updated_at"]
    assert replaced.json()["frameworks"] == ["jobs to be done"]
    assert alice.get("/users/me/profile").json() == replaced.json()

    invalid = {**profile, "voice_description": "", "default_formats": ["podcast"], "mood": "sunny"}
    error = assert_error(alice.put("/users/me/profile", json=invalid), 422, "invalid_input")
    assert {"body.voice_description", "body.default_formats.0", "body.mood"} <= _details(error)
    assert all(detail["problem"] for detail in error["details"])
    clash = {**profile, "phrases_to_use": ["Synergy"], "phrases_to_avoid": ["synergy"]}
    assert (
        "both to use and to avoid"
        in assert_error(alice.put("/users/me/profile", json=clash), 422)["message"]
    )
    assert alice.get("/users/me/profile").json() == replaced.json()


# Feedback, import, analytics and learning patterns.


def test_feedback_is_recorded_and_a_repost_updates_it(make_api: MakeApi, database_url: str) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    variant_id = alice.ask()["variants"][0]["id"]

    created = alice.post(f"/variants/{variant_id}/feedback", json=_feedback(1000, 30, 5, 5))
    assert created.status_code == 201, created.text
    row = created.json()
    assert (row["variant_id"], row["platform"], row["clicks"]) == (variant_id, "linkedin", 7)
    assert row["engagement_rate"] == pytest.approx(0.04)
    assert datetime.fromisoformat(row["posted_at"]) == POSTED_AT

    again = alice.post(f"/variants/{variant_id}/feedback", json=_feedback(2000, 60, 10, 10))
    assert again.status_code == 201, again.text
    assert again.json()["id"] == row["id"], "the same post is one row, updated"
    assert (again.json()["impressions"], again.json()["engagement_rate"]) == (
        2000,
        pytest.approx(0.04),
    )

    assert (
        "does not exist"
        in assert_error(
            alice.post(f"/variants/{uuid.uuid4()}/feedback", json=_feedback(10, 1)),
            404,
            "not_found",
        )["message"]
    )
    future = {**_feedback(10, 1), "posted_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert (
        "in the future"
        in assert_error(alice.post(f"/variants/{variant_id}/feedback", json=future), 422)["message"]
    )
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"impressions": -1}, "body.impressions"),
        ({"impressions": True}, "body.impressions"),
        ({"posted_at": "2026-11-01T09:00:00"}, "body.posted_at"),
        ({"platform": "Linked In!"}, "body.platform"),
    ]
    for bad, field in refusals:
        error = assert_error(
            alice.post(f"/variants/{variant_id}/feedback", json={**_feedback(10, 1), **bad}), 422
        )
        assert field in _details(error), error
    assert_error(alice.post("/variants/not-a-uuid/feedback", json=_feedback(10, 1)), 404)


def test_a_feedback_csv_is_imported_whole_or_not_at_all(
    make_api: MakeApi, database_url: str
) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    first, second, third = (variant["id"] for variant in alice.ask()["variants"])

    imported = alice.post(
        "/feedback/import", files=_csv(_row(first, '"1,000"', 20), _row(second, 500, 5))
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"created": 2, "updated": 0}
    again = alice.post("/feedback/import", files=_csv(_row(first, 1200, 24), _row(third, 800, 8)))
    assert again.json() == {"created": 1, "updated": 1}
    before = alice.get("/analytics/performance").json()
    assert before["overall"]["count"] == 3

    broken = _csv(
        _row(second, 900, 9, posted_at=(POSTED_AT + timedelta(minutes=1)).isoformat()),
        _row(first, -5, 1),
        _row(str(uuid.uuid4()), 10, 1),
        _row(third, 10, 1, posted_at="2026-01-05T09:00:00"),
    )
    error = assert_error(alice.post("/feedback/import", files=broken), 422, "invalid_input")
    assert "nothing imported" in error["message"] and "3 errors" in error["message"]
    assert [(detail["line"], detail["column"]) for detail in error["details"]] == [
        (3, "impressions"),
        (4, "variant_id"),
        (5, "posted_at"),
    ]
    assert alice.get("/analytics/performance").json() == before, "a bad file stores nothing"

    not_utf8 = {"file": ("feedback.csv", CSV_HEADER.encode() + b"\xff\xfe\n", "text/csv")}
    assert (
        assert_error(alice.post("/feedback/import", files=not_utf8), 422)["details"][0]["line"] == 2
    )
    assert (
        "missing column"
        in assert_error(
            alice.post(
                "/feedback/import", files={"file": ("f.csv", b"variant,likes\n", "text/csv")}
            ),
            422,
        )["message"]
    )
    assert "body.file" in _details(assert_error(alice.post("/feedback/import"), 422))


def test_performance_compares_predictions_with_the_latest_feedback(
    make_api: MakeApi, database_url: str
) -> None:
    alice = ApiUser(make_api(database_url), "alice@example.com")
    empty = alice.get("/analytics/performance").json()
    assert empty["overall"] == {
        "count": 0,
        "mean_absolute_error": None,
        "bias": None,
        "rmse": None,
        "calibration": [],
    }
    answer = alice.ask()
    stored = alice.get(f"/queries/{answer['query_id']}").json()["variants"]
    predicted = {variant["id"]: variant["predicted_engagement"] for variant in stored}
    first, second, unposted = (variant["id"] for variant in stored)
    alice.post(f"/variants/{first}/feedback", json=_feedback(1000, 5))
    alice.post(f"/variants/{first}/feedback", json=_feedback(1000, 30, 5, 5))  # the latest
    alice.post(f"/variants/{second}/feedback", json=_feedback(2000, 10))
    alice.post(f"/variants/{unposted}/feedback", json=_feedback(0, 0))  # no rate: skipped

    actual = {first: 40 / 1000, second: 10 / 2000}
    errors = [predicted[variant] - rate for variant, rate in actual.items()]
    report = alice.get("/analytics/performance").json()
    overall = report["overall"]
    assert overall["count"] == 2
    assert overall["mean_absolute_error"] == pytest.approx(sum(abs(e) for e in errors) / 2)
    assert overall["bias"] == pytest.approx(sum(errors) / 2)
    assert overall["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 2))
    assert sum(bin_["count"] for bin_ in overall["calibration"]) == 2
    assert set(report["by_format"]) == {"linkedin_post"}
    assert set(report["by_predictor"]) == {answer["model_versions"]["predictor"]}
    assert report["by_format"]["linkedin_post"] == overall


def test_learning_patterns_list_the_callers_and_the_global_ones(
    make_api: MakeApi, database_url: str
) -> None:
    api = make_api(database_url)
    alice = ApiUser(api, "alice@example.com")
    assert alice.get("/learning/patterns").json() == []
    mine = add_pattern(api, "alice@example.com", hook="story", confidence=0.9)
    shared = add_pattern(api, None, hook="question", confidence=0.6)
    add_pattern(api, "alice@example.com", hook="data", confidence=0.95, active=False)

    listed = alice.get("/learning/patterns").json()
    assert [(p["id"], p["scope"], p["usage_count"]) for p in listed] == [
        (str(mine), "user", 0),
        (str(shared), "global", 0),
    ]
    assert (listed[0]["value"], listed[0]["lift"], listed[0]["samples"]) == ("story", 1.3, 40)
    assert listed[0]["interval"] == [1.2, 1.4] and listed[0]["active"] is True
    assert listed[0]["confidence"] == pytest.approx(0.9)
    everything = alice.get("/learning/patterns", params={"include_inactive": "true"}).json()
    assert [(p["value"], p["active"]) for p in everything] == [
        ("data", False),
        ("story", True),
        ("question", True),
    ]

    answer = alice.ask()
    assert set(answer["patterns_applied"]) == {str(mine), str(shared)}
    assert [p["usage_count"] for p in alice.get("/learning/patterns").json()] == [1, 1]


# Operations and the error envelope.


def test_not_ready_until_the_model_has_loaded(materialized_home: Path, tmp_path: Path) -> None:
    # Each worker process loads the model at start; until it has, /ready must say so, or
    # a load balancer would send requests that wait seconds for it.
    settings = Settings(
        home=materialized_home, jwt_secret=JWT_SECRET, database_url=f"sqlite:///{tmp_path}/a.db"
    )
    loaded = threading.Event()

    def slow_engine() -> QueryEngine:
        assert loaded.wait(timeout=60)
        return engine_from_settings(settings)

    app = create_app(settings, build_query_engine=slow_engine)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        loading = client.get("/ready")
        assert loading.status_code == 503
        assert loading.json()["problems"] == [
            "the query engine is still loading the embedding model"
        ]
        loaded.set()
        assert app.state.context.wait_until_warm(timeout=120)
        assert client.get("/ready").status_code == 200


def test_health_readiness_and_metrics(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready")
    assert ready.status_code == 200, ready.text
    report = ready.json()
    assert report["status"] == "ready" and report["problems"] == []
    assert report["index_table"].startswith("chunks_")
    assert report["embedding_model"].startswith("all-MiniLM-L6-v2@")

    ApiUser(api, "alice@example.com").ask()
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    # The route label is the matched route's template; FastAPI 0.165 includes routers
    # lazily, so it comes without the /api/v1 prefix (reported, not relied upon here).
    assert re.search(
        r'^prosora_http_request_seconds_count\{method="POST",route="/api/v1/queries",'
        r'status="201"\} 1\.0$',
        text,
        re.MULTILINE,
    ), text
    assert re.search(
        r'^prosora_generation_seconds_count\{generator="extractive[^"]*"\} 1\.0$',
        text,
        re.MULTILINE,
    )
    assert "prosora_retrieval_seconds" in text


def test_every_error_shares_the_envelope_and_the_request_id(api: Api) -> None:
    alice = ApiUser(api, "alice@example.com")
    responses = [
        alice.get(f"/queries/{uuid.uuid4()}"),
        alice.get("/search", params={"k": 3}),
        api.client.get(f"{API}/users/me/profile"),
        api.client.get(f"{API}/no-such-route"),
        api.client.patch(f"{API}/users/me/profile", headers=alice.headers),
    ]
    statuses = [
        (response.status_code, assert_error(response, response.status_code)["code"])
        for response in responses
    ]
    assert statuses == [
        (404, "not_found"),
        (422, "invalid_input"),
        (401, "unauthorized"),
        (404, "not_found"),
        (405, "method_not_allowed"),
    ]
    assert len({response.headers["X-Request-ID"] for response in responses}) == len(responses)
    for response in responses:
        assert "Traceback" not in response.text

    echoed = alice.get(f"/queries/{uuid.uuid4()}", headers={"X-Request-ID": "trace-42.a:b"})
    assert assert_error(echoed, 404)["request_id"] == "trace-42.a:b"
    assert (
        alice.get("/users/me/profile", headers={"X-Request-ID": "ok-1"}).headers["X-Request-ID"]
        == "ok-1"
    )
    unsafe = alice.get(f"/queries/{uuid.uuid4()}", headers={"X-Request-ID": "x" * 129})
    assert assert_error(unsafe, 404)["request_id"] != "x" * 129
