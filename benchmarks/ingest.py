"""Ingest benchmark: is concurrent fetch + threaded parse really faster than the old loop?

The original system ingested feeds with a sequential ``feedparser.parse(url)`` loop. This
project replaced it with :func:`prosora_pipelines.lib.ingestion.ingest_sources`, which fetches
concurrently (bounded globally and per host), parses each body in a worker thread, and sends
ETag / Last-Modified validators so an unchanged feed costs one 304. This benchmark measures
how much faster a full ingestion is, where its time goes (fetch alone, parse alone), and what
a second, all-304 pass costs. Everything is measured in one process run so the ratios are
fair on a noisy shared machine; the short measurements are repeated in interleaved rounds
and their medians reported.

300 feeds, cycling through the bundled sample feeds, are served from 30 loopback addresses
(127.0.0.2 … 127.0.0.31, ten feeds each) with 20 ms of latency per request, by a separate
process so that serving does not take CPU or the GIL from the code being measured.

Run: ``make bench`` or ``.venv/bin/python benchmarks/ingest.py`` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import feedparser  # noqa: E402
import httpx  # noqa: E402

from benchmarks.loopback_feeds import HOSTS, PlannedFeed, plan_feeds, served_feeds  # noqa: E402
from benchmarks.measuring import Timing, start_time_limit, stop_time_limit, timed, verdict  # noqa: E402
from prosora_pipelines.lib.catalog import Source, Tier  # noqa: E402
from prosora_pipelines.lib.feed_parsing import parse_feed  # noqa: E402
from prosora_pipelines.lib.fetching import Fetcher, FetchPolicy, FetchRequest  # noqa: E402
from prosora_pipelines.lib.ingestion import IngestResult, ingest_sources  # noqa: E402

FEED_COUNT = 300
LATENCY_SECONDS = 0.02
ALLOWED_SKEW = timedelta(minutes=120)  # the Settings default (future_date_skew_minutes)
TIME_LIMIT_SECONDS = 115
SERVER_LIFETIME_SECONDS = TIME_LIMIT_SECONDS + 30  # the server ends even if we are killed
ROUNDS = 3  # the short measurements are repeated; medians are reported
SPEEDUP_TARGET = 15.0
REVALIDATION_TARGET = 0.2

FetchedBody = tuple[Source, bytes, str | None]


def sequential_feedparser(urls: Sequence[str]) -> list[str]:
    """The original approach; returns a description of each feed that yielded no items."""
    failures = []
    for url in urls:
        parsed = feedparser.parse(url)
        if parsed.get("status") != 200 or not parsed.entries:
            failures.append(f"{url}: status {parsed.get('status')}, {len(parsed.entries)} items")
    return failures


def ingest(sources: Sequence[Source], result: IngestResult | None) -> IngestResult:
    """One ingestion pass, sending the validators of ``result`` when given."""
    return asyncio.run(
        ingest_sources(
            sources,
            fetcher=Fetcher(FetchPolicy()),
            validators=result.validators if result else {},
            run_id="bench",
            fetched_at=datetime.now(UTC),
            allowed_skew=ALLOWED_SKEW,
        )
    )


def ingest_failures(result: IngestResult, *, expect_not_modified: bool) -> list[str]:
    failures = []
    for record in result.records:
        if not record.succeeded:
            failures.append(f"{record.url}: {record.error_class}: {record.error_message}")
        elif record.not_modified != expect_not_modified or (
            not expect_not_modified and record.items == 0
        ):
            failures.append(
                f"{record.url}: status {record.status}, {record.items} items, "
                f"not_modified={record.not_modified}"
            )
    return failures


def fetch_only(sources: Sequence[Source]) -> tuple[list[FetchedBody], list[str]]:
    """Fetch every source with no parsing; returns the bodies (for the parse floor) and failures."""
    requests = [FetchRequest(key=source.id, url=source.url) for source in sources]
    results = asyncio.run(Fetcher(FetchPolicy()).fetch_many(requests))
    bodies, failures = [], []
    for source, result in zip(sources, results, strict=True):
        if result.status == 200 and result.body is not None:
            bodies.append((source, result.body, result.content_type))
        else:
            failures.append(f"{result.url}: status {result.status}, {result.error_class}")
    return bodies, failures


def parse_sequentially(bodies: Sequence[FetchedBody]) -> int:
    """Parse in-memory bodies one after another, as the worker threads do; returns items."""
    fetched_at = datetime.now(UTC)
    return sum(
        len(
            parse_feed(
                body,
                source_id=source.id,
                url=source.url,
                fetched_at=fetched_at,
                allowed_skew=ALLOWED_SKEW,
                content_type=content_type,
            ).entries
        )
        for source, body, content_type in bodies
    )


def report_failures(failures: dict[str, list[str]]) -> None:
    for label, found in failures.items():
        if found:
            print(f"!! {label}: {len(found)} feeds failed over the runs; first ones:")
            for failure in found[:5]:
                print(f"   {failure}")


def run_benchmark(plan: list[PlannedFeed], ports: dict[str, int]) -> None:
    sources = [
        Source(
            id=f"feed-{feed.index:03d}",
            name=f"Benchmark feed {feed.index}",
            url=feed.url(ports),
            kind=feed.kind,
            tier=Tier.STANDARD,
            credibility=0.7,
            domains=("tech",),
        )
        for feed in plan
    ]
    baseline = Timing("(a) sequential feedparser.parse(url)", FEED_COUNT)
    full = Timing("(b) ingest_sources: fetch + parse", FEED_COUNT)
    fetch = Timing("(c) Fetcher.fetch_many: fetch only", FEED_COUNT)
    revalidate = Timing("(d) ingest_sources again, validators sent", FEED_COUNT)
    parse = Timing("    parse_feed alone, sequential, in memory", FEED_COUNT)
    failures: dict[str, list[str]] = {t.label: [] for t in (baseline, full, fetch, revalidate)}
    not_modified: list[int] = []
    entries: list[int] = []

    seconds, found = timed(sequential_feedparser, [source.url for source in sources])
    baseline.seconds.append(seconds)
    failures[baseline.label] += found
    for _ in range(ROUNDS):
        seconds, first = timed(ingest, sources, None)
        full.seconds.append(seconds)
        failures[full.label] += ingest_failures(first, expect_not_modified=False)
        entries.append(len(first.entries))
        seconds, (bodies, found) = timed(fetch_only, sources)
        fetch.seconds.append(seconds)
        failures[fetch.label] += found
        seconds, second = timed(ingest, sources, first)
        revalidate.seconds.append(seconds)
        failures[revalidate.label] += ingest_failures(second, expect_not_modified=True)
        not_modified.append(sum(record.not_modified for record in second.records))
        seconds, items = timed(parse_sequentially, bodies)
        parse.seconds.append(seconds)
        parse.items = len(bodies)

    print(f"median of {ROUNDS} runs for (b)–(d) and the parse floor, interleaved; (a) runs once")
    print(f"{'approach':<44}{'seconds':>8}{'range':>12}{'feeds/s':>9}{'vs (a)':>8}")
    for timing in (baseline, full, fetch, revalidate, parse):
        ratio = baseline.median / timing.median
        print(
            f"{timing.label:<44}{timing.median:>8.2f}{timing.spread:>12}"
            f"{timing.items / timing.median:>9.0f}{ratio:>7.1f}×"
        )
    print(
        f"parse floor: {parse.median / parse.items * 1000:.1f} ms a feed on one core "
        f"({items} items from {parse.items} bodies)"
    )
    print(
        f"(c) + parse floor = {fetch.median + parse.median:.2f} s, "
        f"against {full.median:.2f} s for (b)"
    )
    print(f"entries stored by (b): {entries}; feeds answering 304 in (d): {not_modified}")
    report_failures(failures)

    fetcher_speedup = baseline.median / fetch.median
    speedup = baseline.median / full.median
    revalidation = revalidate.median / full.median
    all_not_modified = all(count == FEED_COUNT for count in not_modified)
    print()
    print("targets")
    print(
        f"  this fetcher vs sequential feedparser.parse(url) ≥ {SPEEDUP_TARGET:.0f}×: "
        f"{fetcher_speedup:.1f}× — {verdict(fetcher_speedup >= SPEEDUP_TARGET)}"
    )
    print(
        f"  full ingest (fetch + feedparser parse) vs the same loop, same target: "
        f"{speedup:.1f}× — {verdict(speedup >= SPEEDUP_TARGET)} "
        f"(bounded by feedparser's CPU time, {parse.median:.2f} s here)"
    )
    print(
        f"  second all-304 pass ≤ {REVALIDATION_TARGET} of first: {revalidation:.3f}, "
        f"all {FEED_COUNT} not modified: {all_not_modified} — "
        f"{verdict(revalidation <= REVALIDATION_TARGET and all_not_modified)}"
    )


def main() -> None:
    global FEED_COUNT, ROUNDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one feed per host, one round")
    if parser.parse_args().quick:
        FEED_COUNT, ROUNDS = len(HOSTS), 1
    # Loopback only: no proxy from the environment may carry these requests elsewhere.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
    start_time_limit(TIME_LIMIT_SECONDS)
    plan = plan_feeds(FEED_COUNT)
    print(
        f"Ingest benchmark: {FEED_COUNT} feeds ({len({feed.file for feed in plan})} sample "
        f"bodies) on {len(HOSTS)} loopback hosts, {LATENCY_SECONDS * 1000:.0f} ms server "
        f"latency, server in its own process"
    )
    print(
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}, "
        f"feedparser {feedparser.__version__}, httpx {httpx.__version__}; "
        f"FetchPolicy defaults: concurrency {FetchPolicy().concurrency}, "
        f"{FetchPolicy().per_host_concurrency} per host"
    )
    print()
    try:
        with served_feeds(plan, LATENCY_SECONDS, SERVER_LIFETIME_SECONDS) as ports:
            run_benchmark(plan, ports)
    finally:
        stop_time_limit()


if __name__ == "__main__":
    main()
