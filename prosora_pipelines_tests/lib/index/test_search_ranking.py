"""Why: ranking arithmetic and filters decide which evidence a draft is built on; each rule
is pinned here, and filters are run inside a real LanceDB query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prosora_pipelines.lib.index.embedding import Embedder, EmbeddingModelInfo
from prosora_pipelines.lib.index.search import (
    ArticleHit,
    RankingWeights,
    SearchFilters,
    SearchMode,
    diversify,
    filters_to_sql,
    min_max,
    recency_weight,
    relative_score_fusion,
    search_articles,
)
from prosora_pipelines.lib.index.vector_store import ArticleIndex, chunk_rows, refresh_indexes

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def test_relative_score_fusion_arithmetic() -> None:
    vector = {"a": 0.9, "b": 0.7, "c": 0.5}
    text = {"b": 12.0, "d": 4.0}
    fused = relative_score_fusion(vector, text, vector_share=0.9)
    assert fused["a"] == pytest.approx(0.9 * 1.0)
    assert fused["b"] == pytest.approx(0.9 * 0.5 + 0.1 * 1.0)
    assert fused["c"] == pytest.approx(0.0)
    assert fused["d"] == pytest.approx(0.0)
    assert min_max({"x": 3.0}) == {"x": 1.0}
    assert relative_score_fusion(vector, {}, 0.0) == {"a": 0.0, "b": 0.0, "c": 0.0}


def test_recency_halves_every_half_life_and_undated_is_zero() -> None:
    assert recency_weight(NOW, NOW, 30) == 1.0
    assert recency_weight(NOW - timedelta(days=30), NOW, 30) == pytest.approx(0.5)
    assert recency_weight(NOW - timedelta(days=60), NOW, 30) == pytest.approx(0.25)
    assert recency_weight(None, NOW, 30) == 0.0


def _hit(article_id: str, source: str, score: float) -> ArticleHit:
    return ArticleHit(
        article_id=article_id,
        title=article_id,
        url="u",
        source_id=source,
        tier="standard",
        credibility=0.7,
        domains=(),
        published_at=None,
        snippet="",
        passage="",
        chunk_id="c",
        score=score,
        components={},
    )


def test_diversity_penalizes_repeats_of_a_source_without_capping_it() -> None:
    hits = [_hit(f"a{n}", "ledger", 1.0 - 0.1 * n) for n in range(5)] + [_hit("b1", "pulse", 0.75)]
    order = [h.article_id for h in diversify(hits, k=4, source_penalty=0.0)]
    assert order == ["a0", "a1", "a2", "b1"]
    # a1 (0.9 - 0.1) still beats b1 (0.75); a2 (0.8 - 0.2) no longer does.
    order = [h.article_id for h in diversify(hits, k=4, source_penalty=0.1)]
    assert order == ["a0", "a1", "b1", "a2"]
    # One source only: the penalty reorders nothing and drops nothing.
    assert [h.article_id for h in diversify(hits[:3], k=3, source_penalty=5.0)] == [
        "a0",
        "a1",
        "a2",
    ]


def test_filters_to_sql_quotes_values() -> None:
    assert filters_to_sql(SearchFilters()) is None
    sql = filters_to_sql(
        SearchFilters(
            sources=("o'reilly",),
            tiers=("premium", "standard"),
            domains=("fintech",),
            since=datetime(2026, 11, 1, tzinfo=UTC),
            min_credibility=0.8,
        )
    )
    assert sql == (
        "source_id IN ('o''reilly') AND tier IN ('premium', 'standard') AND "
        "array_has_any(domains, ['fintech']) AND "
        "published_at >= timestamp '2026-11-01T00:00:00Z' AND credibility >= 0.8"
    )

    early = filters_to_sql(SearchFilters(until=datetime(587, 3, 1, tzinfo=UTC)))
    assert early == "published_at < timestamp '0587-03-01T00:00:00Z'"


def _toy_table(tmp_path: Path) -> object:
    """Six chunks with hand-made 4-d vectors, one per article, varied metadata."""
    model = EmbeddingModelInfo("toy", "v1", 4, 256, "cpu", "fp32")
    specs = [
        ("a1", "ledger", "premium", 0.9, ["fintech"], 1, "stablecoin reserves rules"),
        ("a2", "ledger", "premium", 0.9, ["fintech"], 40, "stablecoin audits"),
        ("a3", "pulse", "standard", 0.7, ["fintech", "ai"], 2, "AI credit scoring rules"),
        ("a4", "wire", "premium", 0.88, ["policy"], 3, "AI Act enforcement calendar"),
        ("a5", "murmurs", "experimental", 0.55, ["finance"], 5, "funding rounds cool"),
        ("a6", "pulse", "standard", 0.7, ["fintech"], 10, "payments stablecoin pilots"),
    ]
    rows = [
        {
            "chunk_id": f"{aid}-0-x",
            "article_id": aid,
            "position": 0,
            "text": f"T{aid}\n\n{text}",
            "content_hash": aid,
            "title": f"T{aid}",
            "url": f"https://{src}.example/{aid}",
            "source_id": src,
            "tier": tier,
            "credibility": cred,
            "domains": domains,
            "published_at": NOW - timedelta(days=age),
        }
        for aid, src, tier, cred, domains, age, text in specs
    ]
    vectors = np.eye(4, dtype=np.float32)[[0, 0, 1, 2, 3, 0]]
    index = ArticleIndex(tmp_path / "lancedb")
    table = index.open_or_create("toy", 4)
    table.add(chunk_rows(rows, vectors, vectors, model))
    refresh_indexes(table)
    return table


def test_filters_apply_inside_the_query(tmp_path: Path) -> None:
    table = _toy_table(tmp_path)
    vector = np.array([1, 0, 0, 0], dtype=np.float32)

    def ids(filters: SearchFilters, mode: SearchMode = SearchMode.VECTOR) -> set[str]:
        hits = search_articles(
            table, "stablecoin", vector, k=10, mode=mode, filters=filters, now=NOW
        )
        return {hit.article_id for hit in hits}

    assert ids(SearchFilters(sources=("pulse",))) == {"a3", "a6"}
    assert ids(SearchFilters(tiers=("experimental",))) == {"a5"}
    assert ids(SearchFilters(domains=("ai", "policy"))) == {"a3", "a4"}
    assert ids(SearchFilters(since=NOW - timedelta(days=4))) == {"a1", "a3", "a4"}
    assert ids(SearchFilters(until=NOW - timedelta(days=20))) == {"a2"}
    assert ids(SearchFilters(min_credibility=0.85)) == {"a1", "a2", "a4"}
    assert ids(SearchFilters(sources=("ledger",)), SearchMode.FULL_TEXT) == {"a1", "a2"}


def test_credibility_and_recency_break_ties_between_equally_relevant(tmp_path: Path) -> None:
    table = _toy_table(tmp_path)
    vector = np.array([1, 0, 0, 0], dtype=np.float32)
    hits = search_articles(table, "", vector, k=3, mode=SearchMode.VECTOR, now=NOW)
    assert [h.article_id for h in hits][:2] == ["a1", "a2"] or hits[0].article_id == "a1"
    first = hits[0]
    assert first.components["relevance"] == 1.0
    weights = RankingWeights()
    expected = (
        weights.relevance
        + weights.credibility * 0.9
        + weights.recency
        * recency_weight(NOW - timedelta(days=1), NOW, weights.recency_half_life_days)
    )
    assert first.score == pytest.approx(expected)


def test_sample_queries_find_the_articles_written_for_them(
    sample_index: tuple[pl.DataFrame, object], embedder: Embedder
) -> None:
    frame, table = sample_index
    titles = dict(zip(frame["id"], frame["title"], strict=True))
    expectations = {
        "stablecoin reserve liquidity disclosure rules": "Stablecoin reserve rules",
        "how teams evaluate LLM agents before production": "agent",
        "usage-based pricing in the mid-market": "Usage-Based Pricing",
    }
    for query, fragment in expectations.items():
        hits = search_articles(table, query, embedder.encode([query])[0], k=5)
        top = [titles[h.article_id] for h in hits]
        assert any(fragment.lower() in title.lower() for title in top[:3]), (query, top)
        assert len({h.source_id for h in hits}) >= 2, (query, top)
