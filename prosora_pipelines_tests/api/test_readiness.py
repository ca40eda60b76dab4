"""Why: orchestrators route traffic by /ready, so it must say 503 with the reason as soon as
the app database goes away, come back by itself when the database does, and answer fast
either way (a readiness probe that hangs is a probe that times out and restarts the pod).
It must also refuse to call an app ready that has no article index, or one too old to
trust. (That probes are never rate limited is in test_limits.)

Clients need the same from every other route: with the database down or hung, a request
ends in seconds with a 503 that says so and when to retry (not a 500, not a hang that ties
up a worker thread), logged as one warning line, and service resumes by itself. The
outages are real: PostgreSQL behind a loopback TCP proxy that these tests stop (closing
every connection), restart on the same port, and freeze (connections accepted, nothing
answered)."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from prosora_pipelines_tests.api.conftest import ApiUser, MakeApi, assert_error
from prosora_pipelines_tests.support.tcp_proxy import TcpProxy

POSTGRES = ("127.0.0.1", 5432)
# Bounds a connection attempt the proxy does not answer; a refused one fails at once.
CONNECT_TIMEOUT_SECONDS = 2
FAST_SECONDS = 4.0
READY_BUDGET_SECONDS = 2.0
# Short timeouts, so a hung database costs each request about 2 s (the statement deadline,
# one second past the statement timeout) plus 2 s (a reconnect attempt).
TIMEOUTS = {
    "database_connect_timeout": 2,
    "database_statement_timeout": 1.0,
    "database_pool_timeout": 1.0,
}
HUNG_REQUEST_SECONDS = 6.0


@pytest.fixture
def proxy() -> Any:
    running = TcpProxy(POSTGRES)
    running.start()
    yield running
    running.stop()


def _ready(api: Any) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    response = api.client.get("/ready")
    elapsed = time.perf_counter() - started
    assert response.headers["X-Request-ID"]
    return response.status_code, response.json(), elapsed


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_readiness_follows_the_app_database_down_and_back(
    make_api: MakeApi, database_url: str, proxy: TcpProxy
) -> None:
    through_proxy = (
        make_url(database_url)
        .set(port=proxy.port)
        .update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
        .render_as_string(hide_password=False)
    )
    api = make_api(through_proxy)
    status, report, _ = _ready(api)
    assert (status, report["status"], report["problems"]) == (200, "ready", [])

    proxy.stop()
    status, report, elapsed = _ready(api)
    assert status == 503 and report["status"] == "unavailable"
    assert len(report["problems"]) == 1 and "app database unreachable" in report["problems"][0]
    assert report["index_table"], "the index part is still reported"
    assert elapsed < FAST_SECONDS, f"/ready took {elapsed:.1f} s with the database gone"
    assert "password" not in str(report) and str(proxy.port) not in str(report["problems"])

    proxy.start()
    status, report, elapsed = _ready(api)
    assert (status, report["problems"]) == (200, []), report
    assert elapsed < FAST_SECONDS
    assert api.client.get("/health").status_code == 200


def test_an_index_older_than_allowed_is_not_ready(make_api: MakeApi) -> None:
    api = make_api(api_index_max_age_hours=0.0001)
    status, report, _ = _ready(api)
    assert (status, report["status"]) == (503, "unavailable")
    [problem] = report["problems"]
    assert problem.startswith("article index is ") and "over the 0.0001 h limit" in problem
    assert report["index_age_hours"] >= 0 and report["index_updated_at"]


def test_a_home_without_an_index_is_not_ready(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(home=tmp_path / "empty-home")
    status, report, _ = _ready(api)
    assert status == 503
    assert report["problems"] == ["no article index yet: materialize article_index"]
    assert report["index_table"] is None and report["embedding_model"] is None
    assert api.client.get("/health").status_code == 200, "alive, just not ready"


def _through(proxy: TcpProxy, database_url: str) -> str:
    return make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)


def _database_unavailable(response: Any) -> None:
    error = assert_error(response, 503, "database_unavailable")
    assert "app database is unavailable" in error["message"]
    assert int(response.headers["Retry-After"]) > 0


def _every_authenticated_route(user: ApiUser) -> list[Any]:
    """One request to each authenticated route, each needing the app database."""
    some_id = uuid.uuid4()
    feedback = {
        "platform": "x",
        "posted_at": "2026-01-05T09:00:00+00:00",
        "impressions": 10,
        "reactions": 1,
        "comments": 0,
        "shares": 0,
    }
    csv = b"variant_id,platform,posted_at,impressions,reactions,comments,shares\n"
    return [
        user.post("/queries", json={"text": "AI regulation"}),
        user.post("/queries/stream", json={"text": "AI regulation"}),
        user.get(f"/queries/{some_id}"),
        user.delete(f"/queries/{some_id}"),
        user.get("/users/me/history"),
        user.get("/search", params={"q": "AI"}),
        user.get("/articles/a1"),
        user.get("/sources"),
        user.get("/trends"),
        user.get("/users/me/profile"),
        user.put("/users/me/profile", json={}),
        user.post(f"/variants/{some_id}/feedback", json=feedback),
        user.post("/feedback/import", files={"file": ("f.csv", csv, "text/csv")}),
        user.get("/analytics/performance"),
        user.get("/learning/patterns"),
    ]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_the_database_down_every_route_answers_503_and_one_warning(
    make_api: MakeApi, database_url: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    api = make_api(_through(proxy, database_url), **TIMEOUTS)
    alice = ApiUser(api, "alice@example.com")
    assert alice.get("/users/me/profile").status_code == 200

    proxy.stop()
    with caplog.at_level(logging.INFO):
        responses = _every_authenticated_route(alice)
    for response in responses:
        _database_unavailable(response)
    warnings = [r for r in caplog.records if r.name == "prosora_pipelines.api.errors"]
    assert len(warnings) == len(responses)
    for record in warnings:
        assert record.levelno == logging.WARNING and record.exc_info is None
        assert record.getMessage().startswith("app database unavailable, answered 503: ")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no error, no trace"

    proxy.start()
    assert alice.get("/users/me/profile").status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_the_database_hung_requests_end_in_503_within_the_timeouts(
    make_api: MakeApi, database_url: str, proxy: TcpProxy
) -> None:
    api = make_api(_through(proxy, database_url), **TIMEOUTS)
    alice = ApiUser(api, "alice@example.com")
    assert alice.get("/users/me/profile").status_code == 200

    proxy.freeze()
    status, report, elapsed = _ready(api)
    assert elapsed < READY_BUDGET_SECONDS, f"/ready took {elapsed:.1f} s"
    assert status == 503 and report["problems"] == ["app database did not answer within 1 s"]

    # More requests at once than the pool has connections (5, and 10 more on demand): the
    # first wait on pooled or new connections, the rest for the pool; all end in time.
    def timed(route: str) -> tuple[Any, float]:
        started = time.perf_counter()
        response = alice.get(route)
        return response, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(timed, ["/users/me/profile", "/users/me/history"] * 10))
    for response, took in results:
        _database_unavailable(response)
        assert took < HUNG_REQUEST_SECONDS, f"a request took {took:.1f} s"
    status, _, elapsed = _ready(api)
    assert status == 503 and elapsed < READY_BUDGET_SECONDS, "/ready is still fast"

    proxy.thaw()
    assert alice.get("/users/me/profile").status_code == 200
    assert _ready(api)[0] == 200


def test_a_database_fault_of_ours_is_still_a_500(
    make_api: MakeApi, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only unavailability is a 503: a missing table (a broken migration, say) is an
    OperationalError on SQLite too, and must surface as the fault it is."""
    api = make_api(database_url)
    alice = ApiUser(api, "alice@example.com")
    assert alice.get("/learning/patterns").status_code == 200
    with api.app.state.context.database.begin() as connection:
        connection.exec_driver_sql("DROP TABLE learning_patterns")
    with caplog.at_level(logging.WARNING):
        failed = alice.get("/learning/patterns")
    assert_error(failed, 500, "internal_error")
    assert "Retry-After" not in failed.headers
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "unhandled "
        + ("OperationalError" if database_url.startswith("sqlite") else "ProgrammingError")
    ]
