"""Retrieval benchmark: does the product's search beat plain baselines on real feeds?

The corpus is the 81 real feed snapshots in ``../shared/feeds/real`` (``PROSORA_SHARED_DIR``
or ``--feeds``), built into articles the product's way and indexed with the product's
indexer (MiniLM chunk vectors and LanceDB full-text index) in a temporary folder. The
queries and graded judgments are ``prosora_pipelines_tests/data/relevance`` (how they were
written, pooled and judged: its ``JUDGING.md``), split by query id into a tuning half, on
which every search weight was chosen, and a reporting half, which these figures are for.

For each half, over all queries and over the paraphrased ones, it prints recall@10 and
nDCG@10 of the product's full-text, vector and hybrid search (``search_articles`` with its
default weights) beside a plain BM25 over title and text and a plain MiniLM dense ranking,
both computed here on the same corpus (:mod:`prosora_pipelines.lib.index.retrieval_evaluation`).

Targets, on the reporting half: hybrid nDCG@10 at least plain dense + 0.05, overall and on
the paraphrased queries, and at least that of the product's full-text and vector search.

Run: ``.venv/bin/python benchmarks/retrieval.py`` from the repository root; ``--quick`` is a
smoke run on a few queries and a slice of the corpus, whose figures mean nothing;
``--per-query`` prints every query's nDCG@10 per system.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import polars as pl  # noqa: E402

from benchmarks.measuring import (  # noqa: E402
    shared_dir,
    start_time_limit,
    stop_time_limit,
    verdict,
)
from prosora_pipelines.lib.index.embedding import load_embedder  # noqa: E402
from prosora_pipelines.lib.index.feed_folder_corpus import feed_folder_articles  # noqa: E402
from prosora_pipelines.lib.index.relevance_judgments import (  # noqa: E402
    QueryKind,
    Split,
    judged_slice,
    load_judged_queries,
)
from prosora_pipelines.lib.index.retrieval_evaluation import (  # noqa: E402
    feed_folder_systems,
    index_feed_folder_articles,
    per_query_scores,
    summary,
)

JUDGMENTS = REPO_ROOT / "prosora_pipelines_tests" / "data" / "relevance"
MARGIN_OVER_DENSE = 0.05
QUICK_QUERIES_PER_KIND_AND_HALF = 2
QUICK_OTHER_ARTICLES = 150
DEFAULT_TIME_LIMIT_SECONDS = 1800


def print_summary(table: pl.DataFrame) -> None:
    for split in (Split.REPORTING, Split.TUNING):
        label = "reported" if split is Split.REPORTING else "weights chosen here"
        for subset in ("all", QueryKind.PARAPHRASED.value):
            rows = table.filter((pl.col("split") == split.value) & (pl.col("subset") == subset))
            if rows.is_empty():
                continue
            print(f"{split.value} half ({label}), {subset} queries: {rows['queries'][0]}")
            print(f"  {'system':<12} {'recall@10':>9} {'nDCG@10':>8}")
            for row in rows.iter_rows(named=True):
                print(f"  {row['system']:<12} {row['recall']:>9.3f} {row['ndcg']:>8.3f}")
        print()


def targets(table: pl.DataFrame) -> list[str]:
    def ndcg(system: str, subset: str) -> float:
        row = table.filter(
            (pl.col("split") == Split.REPORTING.value)
            & (pl.col("subset") == subset)
            & (pl.col("system") == system)
        )
        return float(row["ndcg"][0])

    lines = []
    for subset in ("all", QueryKind.PARAPHRASED.value):
        hybrid, dense = ndcg("hybrid", subset), ndcg("plain dense", subset)
        lines.append(
            f"reporting, {subset}: hybrid nDCG@10 ≥ plain dense + {MARGIN_OVER_DENSE}: "
            f"{hybrid:.3f} vs {dense:.3f} + {MARGIN_OVER_DENSE} — "
            f"{verdict(hybrid >= dense + MARGIN_OVER_DENSE)}"
        )
    hybrid = ndcg("hybrid", "all")
    for single in ("full text", "vector"):
        other = ndcg(single, "all")
        lines.append(
            f"reporting, all: hybrid nDCG@10 ≥ {single}: {hybrid:.3f} vs {other:.3f} — "
            f"{verdict(hybrid >= other)}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--feeds", type=Path, default=shared_dir() / "feeds" / "real", help="feed folder"
    )
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS, help="judgments folder")
    parser.add_argument("--per-query", action="store_true", help="every query's nDCG@10")
    parser.add_argument(
        "--index-folder",
        type=Path,
        help="keep the index here between runs (a second run encodes nothing); default: a "
        "temporary folder, removed",
    )
    parser.add_argument(
        "--time-limit", type=int, default=DEFAULT_TIME_LIMIT_SECONDS, help="seconds, then stop"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run on a slice")
    args = parser.parse_args()
    if not args.feeds.is_dir():
        parser.error(f"no feed folder at {args.feeds} (set PROSORA_SHARED_DIR or --feeds)")
    start_time_limit(args.time_limit)
    started = time.perf_counter()
    articles = feed_folder_articles(args.feeds)
    queries = load_judged_queries(args.judgments)
    if args.quick:
        articles, queries = judged_slice(
            articles,
            queries,
            queries_per_kind_and_half=QUICK_QUERIES_PER_KIND_AND_HALF,
            other_articles=QUICK_OTHER_ARTICLES,
        )
    print(
        f"Retrieval benchmark: {articles.height:,} articles from {args.feeds}"
        f"{' (--quick slice: figures mean nothing)' if args.quick else ''}; "
        f"{len(queries)} judged queries from {args.judgments}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    try:
        embedder = load_embedder()
        table = index_feed_folder_articles(
            articles, embedder, args.index_folder or workdir / "lancedb"
        )
        print(f"indexed {table.count_rows():,} chunks in {time.perf_counter() - started:.0f} s\n")
        systems = feed_folder_systems(articles, table, embedder, queries)
        scores = per_query_scores(systems, queries)
    finally:
        stop_time_limit()
        shutil.rmtree(workdir, ignore_errors=True)
    table_of_means = summary(scores)
    print_summary(table_of_means)
    if args.per_query:
        wide = scores.pivot(on="system", index=["split", "kind", "query", "text"], values="ndcg")
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            print(wide.sort("split", "kind", "query"))
    print("targets")
    for line in targets(table_of_means):
        print(f"  {line}")


if __name__ == "__main__":
    main()
