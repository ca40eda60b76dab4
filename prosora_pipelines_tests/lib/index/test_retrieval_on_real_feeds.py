"""Why: the product's search is only worth its complexity if it beats what a few lines give.
On the real feeds and the reporting half of the hand-graded queries (never used to choose a
weight), hybrid search must beat a plain MiniLM dense ranking by 0.05 nDCG@10 over all
queries and over the paraphrased ones, and be at least as good as either of its own sides.
The same figures are printed by ``benchmarks/retrieval.py``; ``-s`` shows them here."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.relevance_judgments import QueryKind, Split
from prosora_pipelines.lib.index.retrieval_evaluation import score_indexed_articles, summary
from prosora_pipelines.lib.index.vector_store import CurrentIndex
from prosora_pipelines_tests.support.real_feeds import RealFeeds

JUDGMENTS = Path(__file__).resolve().parents[2] / "data" / "relevance"
MARGIN_OVER_DENSE = 0.05

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reported(real_feeds: RealFeeds, embedder: Embedder) -> pl.DataFrame:
    table, _ = CurrentIndex(real_feeds.home).table()
    scores = score_indexed_articles(real_feeds.articles, table, JUDGMENTS, embedder)
    means = summary(scores).filter(pl.col("split") == Split.REPORTING.value)
    print()
    print(means)
    return means


def _ndcg(means: pl.DataFrame, system: str, subset: str) -> float:
    row = means.filter((pl.col("system") == system) & (pl.col("subset") == subset))
    return float(row["ndcg"][0])


@pytest.mark.parametrize("subset", ["all", QueryKind.PARAPHRASED.value])
def test_hybrid_beats_plain_dense_by_the_margin(reported: pl.DataFrame, subset: str) -> None:
    hybrid, dense = _ndcg(reported, "hybrid", subset), _ndcg(reported, "plain dense", subset)
    assert hybrid >= dense + MARGIN_OVER_DENSE, (subset, hybrid, dense)


def test_hybrid_is_at_least_as_good_as_either_side(reported: pl.DataFrame) -> None:
    hybrid = _ndcg(reported, "hybrid", "all")
    assert hybrid >= _ndcg(reported, "vector", "all")
    assert hybrid >= _ndcg(reported, "full text", "all")
