"""Query benchmark: how fast is ``process_query``, against the original fetch-per-query way,
and does it stay flat as the catalog grows?

The original system answered each query by fetching and parsing the catalog feeds matching
the query's domains, one after another, inside the request, so every added feed made every
query slower. This engine reads only what the pipelines materialized. Measured here, in one
process run:

- this engine: ``QueryEngine.process_query`` with the extractive generator (analysis,
  evidence, voice, drafts for the formats asked, predictions, and storing the result in the
  SQLite app database), after the model is loaded and warmed up, over 50 varied queries;
  against an index of the sample's 12 feed sources and of a 300-source catalog (the same
  articles published by 25 times as many sources: 25 times the chunks, with the HNSW vector
  index that size brings);
- the original approach: for each query, ``feedparser.parse(url)`` on each matching feed
  in turn (a feed matches when it shares a domain of weight 0.2 or more with the query, or
  every feed when the query has no domain), then keyword ranking of the entries; the feeds
  are served on loopback hosts with 20 ms latency by a separate process (12 feeds, then 300);
- the cold start: ``prosora query`` (and ``prosora search``) in a new process against the
  12-source index, first when it must export the query encoder into PROSORA_HOME, then with
  the encoder kept there.

Run: ``make bench`` or ``.venv/bin/python benchmarks/query.py`` from the repository root;
``--quick`` for a smoke run of every step at the smallest size (seconds, not minutes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import feedparser  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from benchmarks.loopback_feeds import PlannedFeed, plan_feeds, served_feeds  # noqa: E402
from benchmarks.measuring import start_time_limit, stop_time_limit, verdict  # noqa: E402
from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory  # noqa: E402
from prosora_pipelines.lib.appdb.migrations import migrate  # noqa: E402
from prosora_pipelines.lib.appdb.repository import get_or_create_user  # noqa: E402
from prosora_pipelines.lib.articles.building import articles_frame  # noqa: E402
from prosora_pipelines.lib.index.article_embedding import index_articles  # noqa: E402
from prosora_pipelines.lib.index.embedding import Embedder, load_embedder  # noqa: E402
from prosora_pipelines.lib.index.vector_store import (  # noqa: E402
    ArticleIndex,
    CurrentIndex,
    read_manifest,
    refresh_indexes,
    write_manifest,
)
from prosora_pipelines.lib.query.analysis import analyze_query  # noqa: E402
from prosora_pipelines.lib.query.engine import QueryEngine  # noqa: E402
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator  # noqa: E402
from prosora_pipelines.lib.query.prediction import EngagementPrior  # noqa: E402
from prosora_pipelines.lib.query.words import content_words  # noqa: E402
from prosora_pipelines.lib.sample_corpus import load_sample_truth, sample_articles  # noqa: E402
from prosora_pipelines.lib.sources.catalog import load_catalog  # noqa: E402
from prosora_pipelines.lib.table_store import TableStore  # noqa: E402
from prosora_pipelines.settings import SAMPLE_CATALOG  # noqa: E402

SMALL_SOURCES = 12
COPIES = 25  # 12 sources x 25 = the 300-source catalog
LATENCY_SECONDS = 0.02
MIN_DOMAIN_WEIGHT = 0.2
ORIGINAL_LARGE_QUERIES = 10  # at seconds per query, the 300-feed original gets fewer queries
P95_TARGET_MS = 100.0
COLD_TARGET_SECONDS = 3.0
COLD_RUNS = 3  # new processes timed with the encoder cached
QUICK_QUERIES = 4
QUICK_COPIES = 2
QUICK_SOURCES = 3
TIME_LIMIT_SECONDS = 600
EXTRA_QUERIES = [
    "Write a LinkedIn post about stablecoin payments",
    "A thread on central bank rate cuts and startup funding",
    "Outline a blog on open banking rules in Europe",
    "What do the numbers say about neobank profitability?",
    "quick thread on GPU supply",
    "product-led growth pricing lessons",
    "chip export controls and geopolitics",
    "how boards should oversee AI risk",
    "Write a LinkedIn post about developer tools adoption",
    "blog outline: what the EU AI Act means for credit scoring",
    "AI agents in banking apps: what could go wrong",
    "tariffs and supply chains for hardware startups",
    "a thread on tokenised deposits versus stablecoins",
    "mergers and acquisitions in fintech this year",
]


@dataclass(frozen=True)
class FeedSource:
    file: Path
    domains: tuple[str, ...]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def feed_sources(count: int) -> list[FeedSource]:
    """The sample catalog's first ``count`` feed sources, with their domains."""
    catalog = load_catalog(SAMPLE_CATALOG)
    found = [
        FeedSource(Path(source.url.removeprefix("file://")), tuple(source.domains))
        for source in catalog.sources
        if source.url.endswith(".xml")
    ]
    return found[:count]


def build_small_index(home: Path, embedder: Embedder, source_ids: set[str]) -> int:
    """The sample articles of these sources, embedded for real; returns the chunk count."""
    built, _ = sample_articles()
    frame = articles_frame(built).filter(
        pl.col("duplicate_of").is_null() & pl.col("source_id").is_in(sorted(source_ids))
    )
    report = index_articles(frame, embedder, ArticleIndex(home / "lancedb"))
    write_manifest(TableStore(home), report.manifest)
    return int(report.chunks)


def build_large_index(small_home: Path, large_home: Path, copies: int) -> int:
    """The small index's rows published by ``copies`` times as many sources, indexed the
    project's way; returns the chunk count."""
    manifest = read_manifest(TableStore(small_home))
    assert manifest is not None
    rows = ArticleIndex(small_home / "lancedb").open(manifest.table).to_arrow()
    copied = []
    for copy in range(copies):
        suffix = pa.scalar(f"-{copy:02d}")
        copied.append(
            rows.set_column(
                rows.schema.get_field_index("chunk_id"),
                "chunk_id",
                pc.binary_join_element_wise(rows["chunk_id"], suffix, ""),
            )
            .set_column(
                rows.schema.get_field_index("article_id"),
                "article_id",
                pc.binary_join_element_wise(rows["article_id"], suffix, ""),
            )
            .set_column(
                rows.schema.get_field_index("source_id"),
                "source_id",
                pc.binary_join_element_wise(rows["source_id"], suffix, ""),
            )
        )
    table = ArticleIndex(large_home / "lancedb").open_or_create(manifest.table, manifest.dimension)
    table.add(pa.concat_tables(copied))
    refresh_indexes(table)
    write_manifest(TableStore(large_home), manifest)
    return int(table.count_rows())


def make_engine_at(home: Path, embedder: Embedder) -> tuple[QueryEngine, Any]:
    url = f"sqlite:///{home / 'prosora.db'}"
    migrate(url)
    engine = QueryEngine(
        embedder=embedder,
        index=CurrentIndex(home),
        sessions=make_session_factory(make_engine(url)),
        generator=ExtractiveGenerator(),
        predictor=EngagementPrior(),
    )
    engine.warm_up()
    with engine.sessions.begin() as session:
        user_id = get_or_create_user(session, "bench@example.com", "Bench").id
    return engine, user_id


def original_answer(query: str, urls: Sequence[str]) -> int:
    """The original approach: fetch and parse each feed in turn, rank entries by keywords."""
    keywords = set(content_words(query))
    scored = []
    for url in urls:
        for entry in feedparser.parse(url).entries:
            text = f"{entry.get('title', '')} {entry.get('summary', '')}"
            scored.append(len(keywords & set(content_words(text))))
    return sum(1 for score in scored if score)


def matching_urls(
    query: str,
    embedder: Embedder,
    plan: Sequence[PlannedFeed],
    ports: dict[str, int],
    domains_of: dict[Path, tuple[str, ...]],
) -> list[str]:
    analysis = analyze_query(query, embedder, embedder.encode([query])[0])
    wanted = {name for name, weight in analysis.domains.items() if weight >= MIN_DOMAIN_WEIGHT}
    chosen = [feed for feed in plan if not wanted or wanted & set(domains_of[feed.file])]
    return [feed.url(ports) for feed in chosen]


def time_original(
    queries: Sequence[str],
    embedder: Embedder,
    plan: Sequence[PlannedFeed],
    ports: dict[str, int],
    domains_of: dict[Path, tuple[str, ...]],
) -> tuple[list[float], list[int]]:
    seconds, feeds = [], []
    for query in queries:
        urls = matching_urls(query, embedder, plan, ports, domains_of)
        started = time.perf_counter()
        original_answer(query, urls)
        seconds.append(time.perf_counter() - started)
        feeds.append(len(urls))
    return seconds, feeds


def summary(label: str, seconds: Sequence[float]) -> tuple[float, float]:
    p50, p95 = percentile(seconds, 50) * 1000, percentile(seconds, 95) * 1000
    print(f"  {label:<46} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   ({len(seconds)} queries)")
    return p50, p95


def cold_command_seconds(home: Path, *arguments: str) -> float:
    """Wall time of one ``prosora`` command in a new process, as a user runs it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PROSORA_DATABASE_URL", "DATABASE_URL", "DAGSTER_HOME"}
    }
    env.update(PROSORA_HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from prosora_pipelines.cli import app; app()", *arguments],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return time.perf_counter() - started


def cold_start(home: Path, query: str, runs: int) -> dict[str, float]:
    """``prosora query`` and ``prosora search`` from cold processes: the first one exports
    the query encoder into the home, later ones load it."""
    first = cold_command_seconds(home, "query", query, "--json")
    cached = [cold_command_seconds(home, "query", query, "--json") for _ in range(runs)]
    search = [cold_command_seconds(home, "search", query, "--json") for _ in range(runs)]
    return {
        "first": first,
        "cached": statistics.median(cached),
        "cached_max": max(cached),
        "search": statistics.median(search),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_QUERIES} queries, {QUICK_SOURCES} sources and {QUICK_COPIES}x as many, "
        "one cold run: a smoke run",
    )
    args = parser.parse_args()
    copies = QUICK_COPIES if args.quick else COPIES
    source_count = QUICK_SOURCES if args.quick else SMALL_SOURCES
    original_large_queries = 2 if args.quick else ORIGINAL_LARGE_QUERIES
    cold_runs = 1 if args.quick else COLD_RUNS
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
    start_time_limit(TIME_LIMIT_SECONDS)
    queries = [item["q"] for item in load_sample_truth().queries] + EXTRA_QUERIES
    if args.quick:
        queries = queries[:QUICK_QUERIES]
    sources = feed_sources(source_count)
    domains_of = {source.file: source.domains for source in sources}
    print(
        f"Query benchmark: {len(queries)} queries; {source_count} and "
        f"{source_count * copies} sources; {os.cpu_count()} CPUs"
    )
    embedder = load_embedder()
    with tempfile.TemporaryDirectory(prefix="prosora-query-bench-") as scratch:
        small_home, large_home = Path(scratch) / "small", Path(scratch) / "large"
        source_ids = {source.file.stem for source in sources}
        small_chunks = build_small_index(small_home, embedder, source_ids)
        large_chunks = build_large_index(small_home, large_home, copies)
        print(
            f"index: {small_chunks} chunks ({source_count} sources), {large_chunks} chunks "
            f"({source_count * copies} sources)"
        )
        cold = cold_start(small_home, queries[0], cold_runs)
        small, small_user = make_engine_at(small_home, embedder)
        # An embedder of its own: the large index repeats the small one's articles, and a
        # shared one would hand it the vectors of texts the small engine has just encoded.
        large, large_user = make_engine_at(large_home, Embedder(home=small_home))
        engine_small: list[float] = []
        engine_large: list[float] = []
        variants = 0
        phases: dict[str, list[float]] = {}
        for query in queries:
            started = time.perf_counter()
            result = small.process_query(small_user, query)
            engine_small.append(time.perf_counter() - started)
            variants += len(result.variants)
            for phase, milliseconds in result.timings_ms.items():
                phases.setdefault(phase, []).append(milliseconds)
            started = time.perf_counter()
            large.process_query(large_user, query)
            engine_large.append(time.perf_counter() - started)
        print(
            f"engine wrote {variants} variants for the {source_count}-source index; "
            "mean ms per phase:"
        )
        print("  " + ", ".join(f"{name} {np.mean(ms):.1f}" for name, ms in phases.items()))

    small_plan = plan_feeds(source_count, [source.file for source in sources])
    large_plan = plan_feeds(source_count * copies, [source.file for source in sources])
    with served_feeds(large_plan, LATENCY_SECONDS, TIME_LIMIT_SECONDS) as ports:
        original_small, feeds_small = time_original(
            queries, embedder, small_plan, ports, domains_of
        )
        original_large, feeds_large = time_original(
            queries[:: len(queries) // original_large_queries][:original_large_queries],
            embedder,
            large_plan,
            ports,
            domains_of,
        )
    stop_time_limit()

    print()
    print("Cold start: a new `prosora query` process, model and index loaded from disk:")
    rows = [
        ("query, first run (exports the query encoder)", f"{cold['first']:6.2f} s"),
        (
            f"query, encoder cached (median of {cold_runs})",
            f"{cold['cached']:6.2f} s (max {cold['cached_max']:.2f})",
        ),
        (f"search, encoder cached (median of {cold_runs})", f"{cold['search']:6.2f} s"),
    ]
    for label, figure in rows:
        print(f"  {label:<46} {figure}")
    print()
    print("Latency per query (after warm-up):")
    large_label = f"this engine, {source_count * copies} sources"
    _, engine_p95 = summary(f"this engine, {source_count} sources", engine_small)
    engine_large_p50, engine_large_p95 = summary(large_label, engine_large)
    original_p50, original_p95 = summary(
        f"original, {source_count} feeds (mean {np.mean(feeds_small):.1f} fetched/query)",
        original_small,
    )
    summary(
        f"original, {source_count * copies} feeds (mean {np.mean(feeds_large):.0f} fetched/query)",
        original_large,
    )
    engine_p50 = percentile(engine_small, 50) * 1000
    print()
    print(
        f"speed-up at {source_count} sources: p50 {original_p50 / engine_p50:.1f}x, "
        f"p95 {original_p95 / engine_p95:.1f}x"
    )
    print(
        f"growth {source_count} -> {source_count * copies} sources: "
        f"engine p50 x{engine_large_p50 / engine_p50:.2f}, "
        f"p95 x{engine_large_p95 / engine_p95:.2f}; original p50 "
        f"x{percentile(original_large, 50) / percentile(original_small, 50):.1f}"
    )
    print(
        f"target p95 <= {P95_TARGET_MS:.0f} ms: {source_count} sources "
        f"{verdict(engine_p95 <= P95_TARGET_MS)}, {source_count * copies} sources "
        f"{verdict(engine_large_p95 <= P95_TARGET_MS)}"
    )
    print(
        f"target cold `prosora query` < {COLD_TARGET_SECONDS:.0f} s with the encoder cached: "
        f"{cold['cached']:.2f} s {verdict(cold['cached'] < COLD_TARGET_SECONDS)}"
    )


if __name__ == "__main__":
    main()
