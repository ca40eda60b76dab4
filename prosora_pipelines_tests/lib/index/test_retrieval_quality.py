"""Why: search is the evidence base of every draft. Over the hand-labelled queries of the
sample corpus (catalogs/sample/truth/*.yaml, written with the articles), hybrid search must be at
least as good as the better of full-text and vector search alone. Run with ``-s`` to see
the figures: recall@10 and nDCG@10 per mode."""

from __future__ import annotations

import math
from collections.abc import Sequence, Set

import polars as pl
import pytest

from prosora_pipelines.lib.articles.canonical_url import canonicalize_url
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.search import RankingWeights, SearchMode, search_articles
from prosora_pipelines.lib.sample_corpus import load_sample_truth, sample_articles, story_ids_by_url

K = 10
# Pure relevance and no diversity penalty, so the three modes are compared on retrieval alone.
RELEVANCE_ONLY = RankingWeights(credibility=0.0, recency=0.0, source_penalty=0.0)


def recall_at_k(ranked: Sequence[str], relevant: Set[str], k: int) -> float:
    """Share of the relevant items found in the top ``k`` (binary relevance)."""
    if not relevant:
        raise ValueError("a labelled query needs at least one relevant item")
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Set[str], k: int) -> float:
    """Normalized discounted cumulative gain: 1 when every relevant item leads the ranking."""
    if not relevant:
        raise ValueError("a labelled query needs at least one relevant item")
    gain = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return gain / ideal


def test_unit_metrics() -> None:
    assert recall_at_k(["a", "b", "c"], {"a", "c", "z"}, 2) == pytest.approx(1 / 3)
    assert ndcg_at_k(["a", "b"], {"a"}, 10) == 1.0
    assert ndcg_at_k(["b", "a"], {"a"}, 10) == pytest.approx(1 / 1.5849625, rel=1e-6)
    with pytest.raises(ValueError):
        recall_at_k(["a"], set(), 1)


def test_hybrid_is_at_least_as_good_as_either_alone(
    sample_index: tuple[pl.DataFrame, object], embedder: Embedder
) -> None:
    _, table = sample_index
    ids = story_ids_by_url(sample_articles()[0])
    queries = load_sample_truth().queries
    assert len(queries) >= 30
    scores: dict[SearchMode, dict[str, list[float]]] = {
        mode: {"recall": [], "ndcg": []} for mode in SearchMode
    }
    for labelled in queries:
        relevant = {
            ids[canonicalize_url(url)] if "://" in url else ids[url] for url in labelled["relevant"]
        }
        vector = embedder.encode([labelled["q"]])[0]
        for mode in SearchMode:
            hits = search_articles(
                table, labelled["q"], vector, k=K, mode=mode, weights=RELEVANCE_ONLY
            )
            ranked = [hit.article_id for hit in hits]
            scores[mode]["recall"].append(recall_at_k(ranked, relevant, K))
            scores[mode]["ndcg"].append(ndcg_at_k(ranked, relevant, K))
    mean = {
        mode: {name: sum(values) / len(values) for name, values in by_metric.items()}
        for mode, by_metric in scores.items()
    }
    print(f"\n{len(queries)} labelled queries, k={K}")
    for mode in SearchMode:
        recall, ndcg = mean[mode]["recall"], mean[mode]["ndcg"]
        print(f"  {mode.value:>6}: recall@10 {recall:.3f}  nDCG@10 {ndcg:.3f}")
    for metric in ("recall", "ndcg"):
        best_single = max(mean[SearchMode.VECTOR][metric], mean[SearchMode.FULL_TEXT][metric])
        assert mean[SearchMode.HYBRID][metric] >= best_single, (metric, mean)
