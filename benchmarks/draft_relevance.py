"""Draft relevance benchmark: do the drafts and direct answers cite what the question is
about, on real feeds?

The corpus is the 81 real feed snapshots in ``../shared/feeds/real`` (``PROSORA_SHARED_DIR``
or ``--feeds``), built into articles the product's way and indexed with the product's indexer
in a temporary folder. The queries and graded judgments are
``prosora_pipelines_tests/data/relevance`` (its ``JUDGING.md`` says how they were written,
pooled and judged), split by query id into a tuning half and a reporting half.

Every query goes through ``QueryEngine.process_query`` as a user's would (extractive
generator, the default voice profile, every format, 4 variants, stored in a SQLite app
database). For each half it prints, from the stored results
(:mod:`prosora_pipelines.lib.query.draft_evaluation`): citation precision (the share of the
articles drafts cite that are judged relevant), the share of off-topic drafts (citing no
relevant article), how many queries got drafts and how many were answered as thin, and the
direct answers' citation precision.

``--tune`` instead sweeps the on-topic similarity threshold over the tuning half only and
prints the one chosen: the lowest threshold at which the tuning half's citation precision
reaches ``TUNING_PRECISION`` with no off-topic draft (the lowest, so that as many questions
as possible get drafts). ``ON_TOPIC_SIMILARITY`` in ``lib/query/relevance.py`` is set from it.

Targets, on the reporting half: citation precision at least 0.6 and no off-topic draft.

Run: ``.venv/bin/python benchmarks/draft_relevance.py`` from the repository root;
``--quick`` is a smoke run on a few queries and a slice of the corpus, whose figures mean
nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import polars as pl  # noqa: E402

from benchmarks.measuring import (  # noqa: E402
    shared_dir,
    start_time_limit,
    stop_time_limit,
    verdict,
)
from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory  # noqa: E402
from prosora_pipelines.lib.appdb.migrations import migrate  # noqa: E402
from prosora_pipelines.lib.appdb.repository import get_or_create_user  # noqa: E402
from prosora_pipelines.lib.index.article_embedding import index_articles  # noqa: E402
from prosora_pipelines.lib.index.embedding import Embedder, load_embedder  # noqa: E402
from prosora_pipelines.lib.index.feed_folder_corpus import feed_folder_articles  # noqa: E402
from prosora_pipelines.lib.index.relevance_judgments import (  # noqa: E402
    JudgedQuery,
    Split,
    judged_slice,
    load_judged_queries,
)
from prosora_pipelines.lib.index.vector_store import (  # noqa: E402
    ArticleIndex,
    CurrentIndex,
    write_manifest,
)
from prosora_pipelines.lib.query.draft_evaluation import (  # noqa: E402
    DraftRelevance,
    draft_relevance,
)
from prosora_pipelines.lib.query.engine import QueryEngine  # noqa: E402
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator  # noqa: E402
from prosora_pipelines.lib.query.prediction import EngagementPrior  # noqa: E402
from prosora_pipelines.lib.query.relevance import ON_TOPIC_SIMILARITY  # noqa: E402
from prosora_pipelines.lib.query.responses import QueryResult  # noqa: E402
from prosora_pipelines.lib.table_store import TableStore  # noqa: E402

JUDGMENTS = REPO_ROOT / "prosora_pipelines_tests" / "data" / "relevance"
PRECISION_TARGET = 0.6
TUNING_PRECISION = 0.7
THRESHOLDS = [0.40, 0.42, 0.45, 0.48, 0.50]
QUICK_QUERIES_PER_KIND_AND_HALF = 1
QUICK_OTHER_ARTICLES = 100
DEFAULT_TIME_LIMIT_SECONDS = 3600


def build_index(home: Path, articles: pl.DataFrame, embedder: Embedder) -> None:
    report = index_articles(articles, embedder, ArticleIndex(home / "lancedb"))
    write_manifest(TableStore(home), report.manifest)


def answered(
    home: Path, embedder: Embedder, queries: list[JudgedQuery], threshold: float, run: str
) -> list[tuple[QueryResult, dict[str, int]]]:
    """Each query answered by the engine at this threshold, beside its grades."""
    url = f"sqlite:///{home / f'app-{run}.db'}"
    migrate(url)
    engine = QueryEngine(
        embedder=embedder,
        index=CurrentIndex(home),
        sessions=make_session_factory(make_engine(url)),
        generator=ExtractiveGenerator(),
        predictor=EngagementPrior(),
        on_topic_similarity=threshold,
    )
    with engine.sessions.begin() as session:
        user_id = get_or_create_user(session, "bench@example.com", "Bench").id
    results = [(engine.process_query(user_id, q.text), q.grades) for q in queries]
    engine.sessions.kw["bind"].dispose()
    return results


def describe(label: str, figures: DraftRelevance) -> str:
    return (
        f"{label}: {figures.queries} queries, {figures.queries_with_drafts} with drafts,"
        f" {figures.thin_or_declined} thin or declined; {figures.drafts} drafts citing"
        f" {figures.citations} articles: citation precision {figures.citation_precision:.3f},"
        f" off-topic drafts {figures.off_topic_drafts} ({figures.off_topic_share:.3f});"
        f" direct answers {figures.answers}, their citation precision"
        f" {figures.answer_precision:.3f}"
    )


def tune(home: Path, embedder: Embedder, tuning: list[JudgedQuery]) -> None:
    print(f"sweep over the tuning half ({len(tuning)} queries)")
    chosen: float | None = None
    for threshold in THRESHOLDS:
        figures = draft_relevance(answered(home, embedder, tuning, threshold, f"t{threshold}"))
        print(describe(f"  threshold {threshold:.3f}", figures), flush=True)
        meets = figures.citation_precision >= TUNING_PRECISION and figures.off_topic_drafts == 0
        if chosen is None and meets and figures.drafts:
            chosen = threshold
    print(f"chosen threshold: {chosen} (in use: {ON_TOPIC_SIMILARITY})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on a slice")
    parser.add_argument("--tune", action="store_true", help="choose the threshold (tuning half)")
    parser.add_argument("--feeds", type=Path, default=None, help="folder of saved feeds")
    parser.add_argument("--time-limit", type=int, default=DEFAULT_TIME_LIMIT_SECONDS)
    arguments = parser.parse_args(argv)
    start_time_limit(arguments.time_limit)
    started = time.perf_counter()
    feeds = arguments.feeds or shared_dir() / "feeds" / "real"
    queries = load_judged_queries(JUDGMENTS)
    articles = feed_folder_articles(feeds)
    if arguments.quick:
        articles, queries = judged_slice(
            articles,
            queries,
            queries_per_kind_and_half=QUICK_QUERIES_PER_KIND_AND_HALF,
            other_articles=QUICK_OTHER_ARTICLES,
        )
    embedder = load_embedder()
    with tempfile.TemporaryDirectory(prefix="draft-relevance-") as scratch:
        home = Path(scratch)
        build_index(home, articles, embedder)
        quick = " (--quick slice: figures mean nothing)" if arguments.quick else ""
        print(f"corpus: {articles.height} articles from {feeds}{quick}")
        halves = {split: [q for q in queries if q.split is split] for split in Split}
        if arguments.tune:
            tune(home, embedder, halves[Split.TUNING])
        else:
            print(
                f"on-topic similarity threshold {ON_TOPIC_SIMILARITY} (chosen on the tuning half)"
            )
            for split in (Split.TUNING, Split.REPORTING):
                figures = draft_relevance(
                    answered(home, embedder, halves[split], ON_TOPIC_SIMILARITY, split.value)
                )
                print(describe(f"{split.value} half", figures))
                if split is Split.REPORTING:
                    print(
                        f"target citation precision >= {PRECISION_TARGET}:"
                        f" {verdict(figures.citation_precision >= PRECISION_TARGET)};"
                        f" target no off-topic draft: {verdict(figures.off_topic_drafts == 0)}"
                    )
    stop_time_limit()
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
