"""Why: an ingest must be bounded by the sources' deadlines, parse on every core when there
are many feeds (giving exactly what one thread gives), and tell our own bugs apart from a
source's faults: a bug fails the run loudly instead of hiding in a failed-source row."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prosora_pipelines.lib.sources import feed_parse_pool, ingestion
from prosora_pipelines.lib.sources.catalog import Source, SourceKind, Tier
from prosora_pipelines.lib.sources.feed_parse_pool import FeedParsePool
from prosora_pipelines.lib.sources.fetching import Fetcher, FetchPolicy
from prosora_pipelines.lib.sources.ingestion import IngestResult, ingest_sources
from prosora_pipelines_tests.support.feed_server import FeedServer, Route

SAMPLE_FEEDS = sorted(
    (Path(__file__).resolve().parents[3] / "prosora_pipelines/catalogs/sample/feeds").glob("*.xml")
)
FETCHED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _source(index: int, url: str, kind: SourceKind = SourceKind.RSS) -> Source:
    return Source(
        id=f"source-{index:03d}",
        name=f"Source {index}",
        url=url,
        kind=kind,
        tier=Tier.STANDARD,
        credibility=0.7,
        domains=("tech",),
    )


def _ingest(sources: Sequence[Source], policy: FetchPolicy | None = None) -> IngestResult:
    return asyncio.run(
        ingest_sources(
            sources,
            fetcher=Fetcher(policy or FetchPolicy()),
            validators={},
            run_id="test",
            fetched_at=FETCHED_AT,
            allowed_skew=timedelta(hours=2),
        )
    )


def _die_in_a_worker(parent: int) -> str:
    if os.getpid() != parent:
        os._exit(1)
    return "parsed in this process"


def test_processes_only_for_batches_large_enough_and_a_dead_worker_is_survived() -> None:
    few = FeedParsePool(feed_parse_pool.MIN_FEEDS_FOR_PROCESSES - 1)
    assert asyncio.run(few.run(os.getpid)) == os.getpid()
    if feed_parse_pool.usable_cpus() < 2:
        pytest.skip("one CPU: processes are never used")
    many = FeedParsePool(feed_parse_pool.MIN_FEEDS_TO_START_PROCESSES)
    assert asyncio.run(many.run(os.getpid)) != os.getpid()
    # Once the workers run, a smaller batch is worth sending to them.
    assert FeedParsePool(feed_parse_pool.MIN_FEEDS_FOR_PROCESSES).uses_processes
    # A worker that dies takes its pool down; its work is parsed in a thread instead.
    dying = FeedParsePool(feed_parse_pool.MIN_FEEDS_FOR_PROCESSES)
    call = functools.partial(_die_in_a_worker, os.getpid())
    assert asyncio.run(dying.run(call)) == "parsed in this process"
    # The next large batch starts a new pool.
    again = FeedParsePool(feed_parse_pool.MIN_FEEDS_TO_START_PROCESSES)
    assert asyncio.run(again.run(os.getpid)) != os.getpid()


_in_this_process = {"now": 0, "most": 0}
_counting = threading.Lock()


def _parse_slowly() -> tuple[int, int]:
    """Stands in for a parse: which process ran it, and the most running there at once."""
    with _counting:
        _in_this_process["now"] += 1
        _in_this_process["most"] = max(_in_this_process["most"], _in_this_process["now"])
    time.sleep(0.05)
    with _counting:
        _in_this_process["now"] -= 1
        return os.getpid(), _in_this_process["most"]


def test_while_workers_start_bodies_are_parsed_one_at_a_time_in_a_thread() -> None:
    if feed_parse_pool.usable_cpus() < 2:
        pytest.skip("one CPU: processes are never used")
    running = feed_parse_pool._pool
    if running is not None:
        feed_parse_pool._discard(running)  # a cold start is what this test is about
    cold = FeedParsePool(feed_parse_pool.MIN_FEEDS_TO_START_PROCESSES)

    async def batch() -> list[tuple[int, int]]:
        cold.warm_up()
        return await asyncio.gather(*(cold.run(_parse_slowly) for _ in range(100)))

    results = asyncio.run(batch())
    here = [most for pid, most in results if pid == os.getpid()]
    assert here, "the first bodies must not wait for the workers"
    assert max(here) == 1, "more than one body at a time in threads only queues on the GIL"
    assert len(here) < len(results), "once the workers are up, the rest must go to them"


def test_many_feeds_parsed_in_processes_give_what_a_thread_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    count = feed_parse_pool.MIN_FEEDS_FOR_PROCESSES
    with FeedServer() as server:
        sources = [
            _source(n, server.add(f"/feeds/{n}.xml", Route(SAMPLE_FEEDS[n % 13].read_bytes())))
            for n in range(count)
        ]
        starting = FeedParsePool(feed_parse_pool.MIN_FEEDS_TO_START_PROCESSES)
        asyncio.run(starting.run(os.getpid))  # workers up, so bodies go to them, not to a thread
        assert FeedParsePool(count).uses_processes or feed_parse_pool.usable_cpus() < 2
        in_processes = _ingest(sources)
        monkeypatch.setattr(feed_parse_pool, "MIN_FEEDS_FOR_PROCESSES", 10**6)
        in_a_thread = _ingest(sources)
    assert all(record.succeeded and record.items for record in in_processes.records)
    key = lambda entry: (entry.source_id, entry.entry_key)  # noqa: E731
    assert sorted(in_processes.entries, key=key) == sorted(in_a_thread.entries, key=key)
    assert [r.items for r in in_processes.records] == [r.items for r in in_a_thread.records]


def test_a_bug_while_parsing_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(ingestion, "parse_feed", broken)
    with FeedServer() as server:
        url = server.add("/feed.xml", Route(SAMPLE_FEEDS[0].read_bytes()))
        with pytest.raises(TypeError, match="not subscriptable"):
            _ingest([_source(0, url)])


def test_a_rejected_feed_is_a_failed_source_not_an_error() -> None:
    with FeedServer() as server:
        url = server.add("/feed.xml", Route(b"<html><body>no feed here</body></html>"))
        (record,) = _ingest([_source(0, url)]).records
    assert record.error_class == "FeedRejectedError" and record.error_message


def test_a_web_source_and_its_pages_share_one_deadline() -> None:
    deadline = 1.0
    with FeedServer() as server:
        pages = [
            server.add(f"/news/{n}.html", Route(b"<html>" + b"x" * 200, trickle_interval=0.05))
            for n in range(6)
        ]
        links = "".join(f'<a href="{page}">story {n}</a>' for n, page in enumerate(pages))
        index = server.add(
            "/news/index.html",
            Route(f"<html><body>{links}</body></html>".encode(), content_type="text/html"),
        )
        policy = FetchPolicy(source_deadline=deadline, per_host_concurrency=2)
        started = time.perf_counter()
        (record,) = _ingest([_source(0, index, SourceKind.WEB)], policy).records
        elapsed = time.perf_counter() - started
    assert record.error_class == "AllPagesFailed"
    assert "DeadlineExceededError" in (record.error_message or "")
    assert elapsed < deadline + 1.0
