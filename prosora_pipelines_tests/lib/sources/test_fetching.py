"""Why: one slow, broken or hostile server must never hurt the other sources, and an
unchanged feed must cost a 304. Exercised against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from prosora_pipelines.lib.sources import fetching
from prosora_pipelines.lib.sources.fetching import (
    CacheValidators,
    Fetcher,
    FetchPolicy,
    FetchRequest,
    backoff_delay,
    retry_after_seconds,
)
from prosora_pipelines_tests.support.feed_server import FeedServer, Route

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
POLICY = FetchPolicy(
    connect_timeout=1.0, read_timeout=0.5, max_retries=2, backoff_seconds=0.01, max_bytes=4096
)


def _fetch(requests: list[FetchRequest], policy: FetchPolicy = POLICY) -> list:  # type: ignore[type-arg]
    return asyncio.run(Fetcher(policy, rng=random.Random(7)).fetch_many(requests))


def test_success_then_not_modified_with_validators() -> None:
    with FeedServer() as server:
        url = server.add("/feed", Route(FEED))
        (first,) = _fetch([FetchRequest("s", url)])
        assert first.ok and first.status == 200 and first.body == FEED
        assert first.validators.etag and first.validators.last_modified
        (second,) = _fetch([FetchRequest("s", url, first.validators)])
        assert second.ok and second.not_modified and second.body is None
        assert second.status == 304
        assert server.conditional_hits["/feed"] == 1


def test_transient_500_retried_until_success() -> None:
    with FeedServer() as server:
        url = server.add("/flaky", Route(FEED, status=503, fail_times=2))
        (result,) = _fetch([FetchRequest("s", url)])
        assert result.ok and result.attempts == 3
        assert server.requests["/flaky"] == 3


def test_permanent_500_fails_after_bounded_retries() -> None:
    with FeedServer() as server:
        url = server.add("/broken", Route(status=500))
        (result,) = _fetch([FetchRequest("s", url)])
        assert not result.ok
        assert result.status == 500 and result.error_class == "HTTPStatusFetchError"
        assert server.requests["/broken"] == 3


def test_404_is_not_retried() -> None:
    with FeedServer() as server:
        (result,) = _fetch([FetchRequest("s", server.url("/missing"))])
        assert result.status == 404 and result.attempts == 1


def test_retry_after_honoured_and_too_long_retry_after_gives_up() -> None:
    with FeedServer() as server:
        short = server.add(
            "/short", Route(FEED, status=429, fail_times=1, headers={"Retry-After": "0"})
        )
        long = server.add("/long", Route(status=429, headers={"Retry-After": "3600"}))
        ok, refused = _fetch([FetchRequest("a", short), FetchRequest("b", long)])
        assert ok.ok and ok.attempts == 2
        assert not refused.ok and refused.status == 429 and refused.attempts == 1


def test_timeout_fails_without_blocking_other_sources() -> None:
    with FeedServer() as server:
        slow = server.add("/slow", Route(FEED, delay=3.0))
        fast = server.add("/fast", Route(FEED))
        policy = FetchPolicy(
            connect_timeout=0.5, read_timeout=0.3, max_retries=1, backoff_seconds=0.01
        )
        slow_result, fast_result = _fetch(
            [FetchRequest("a", slow), FetchRequest("b", fast)], policy
        )
        assert fast_result.ok
        assert not slow_result.ok and slow_result.error_class in {"ReadTimeout", "TimeoutError"}
        assert slow_result.attempts == 2


def test_trickled_body_ends_at_the_source_deadline_without_retries() -> None:
    # A byte every 50 ms never trips the read timeout; only the source's deadline ends it.
    deadline = 1.0
    with FeedServer() as server:
        trickling = server.add("/trickle", Route(FEED, trickle_interval=0.05))
        fast = server.add("/fast", Route(FEED))
        policy = FetchPolicy(
            connect_timeout=1.0, read_timeout=0.5, source_deadline=deadline, max_retries=2
        )
        started = time.perf_counter()
        slow_result, fast_result = _fetch(
            [FetchRequest("a", trickling), FetchRequest("b", fast)], policy
        )
        elapsed = time.perf_counter() - started
        assert fast_result.ok
        assert not slow_result.ok and slow_result.error_class == "DeadlineExceededError"
        assert slow_result.attempts == 1 and server.requests["/trickle"] == 1
        assert elapsed < deadline + 1.0


def test_deadline_bounds_all_attempts_together() -> None:
    # Each attempt is cut by the read timeout and retried, but never past the deadline.
    deadline = 1.0
    with FeedServer() as server:
        silent = server.add("/silent", Route(FEED, delay=5.0))
        policy = FetchPolicy(
            read_timeout=0.4, source_deadline=deadline, max_retries=10, backoff_seconds=0.01
        )
        started = time.perf_counter()
        (result,) = _fetch([FetchRequest("a", silent)], policy)
        elapsed = time.perf_counter() - started
        assert not result.ok
        assert result.error_class in {"ReadTimeout", "DeadlineExceededError"}
        assert 2 <= result.attempts <= 3
        assert elapsed < deadline + 1.0


def test_batch_bound_ends_fetches_that_would_outlive_it() -> None:
    with FeedServer() as server:
        urls = [server.add(f"/t{n}", Route(FEED, trickle_interval=0.05)) for n in range(3)]
        policy = FetchPolicy(source_deadline=30.0, per_host_concurrency=1)
        started = time.perf_counter()
        results = asyncio.run(
            Fetcher(policy).fetch_many([FetchRequest("s", url) for url in urls], within=0.5)
        )
        assert time.perf_counter() - started < 1.5
        assert {result.error_class for result in results} == {"DeadlineExceededError"}


def test_a_bug_while_fetching_propagates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Our own mistakes must fail loudly, not become a failed-source row.
    def broken(*_: object) -> None:
        raise TypeError("unsupported operand")

    monkeypatch.setattr(fetching, "_read_file", broken)
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    with pytest.raises(TypeError, match="unsupported operand"):
        _fetch([FetchRequest("s", feed.as_uri())])


def test_body_over_limit_abandoned_even_when_compressed() -> None:
    big = b"<rss>" + b"x" * 20_000 + b"</rss>"
    with FeedServer() as server:
        plain = server.add("/big", Route(big))
        zipped = server.add("/zipped", Route(big, gzip_body=True))
        plain_result, zipped_result = _fetch([FetchRequest("a", plain), FetchRequest("b", zipped)])
        for result in (plain_result, zipped_result):
            assert not result.ok and result.error_class == "ResponseTooLargeError"


def test_gzip_body_decoded() -> None:
    with FeedServer() as server:
        url = server.add("/gz", Route(FEED, gzip_body=True))
        (result,) = _fetch([FetchRequest("s", url)])
        assert result.ok and result.body == FEED


def test_redirect_limit() -> None:
    with FeedServer() as server:
        server.add("/loop", Route(redirect_to=server.url("/loop")))
        final = server.add("/final", Route(FEED))
        server.add("/hop", Route(redirect_to=final))
        looping, hopping = _fetch(
            [FetchRequest("a", server.url("/loop")), FetchRequest("b", server.url("/hop"))]
        )
        assert looping.error_class == "TooManyRedirects"
        assert hopping.ok and hopping.final_url == final


def test_connection_refused_is_a_record() -> None:
    with FeedServer() as server:
        port = server.port
    (result,) = _fetch([FetchRequest("s", f"http://127.0.0.1:{port}/gone")])
    assert not result.ok and result.error_class == "ConnectError"


def test_file_urls_use_size_and_mtime_validators(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    (first,) = _fetch([FetchRequest("s", feed.as_uri())])
    assert first.ok and first.body == FEED
    (second,) = _fetch([FetchRequest("s", feed.as_uri(), first.validators)])
    assert second.not_modified
    feed.write_bytes(FEED + b"\n")
    (third,) = _fetch([FetchRequest("s", feed.as_uri(), first.validators)])
    assert third.body == FEED + b"\n"
    (missing,) = _fetch([FetchRequest("s", (tmp_path / "nope.xml").as_uri())])
    assert missing.error_class == "FileNotFoundError"


def test_retry_after_parsing_and_backoff_bounds() -> None:
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("not a date") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    rng = random.Random(1)
    delays = [backoff_delay(3, 0.5, rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays) and max(delays) > 2.0
    assert CacheValidators().empty
