"""Why: the analysis steers everything after it (formats, evidence depth, domain boosts), so
its decisions on typical requests are pinned here, with the real embedding model."""

from __future__ import annotations

import pytest

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.query.analysis import QueryAnalysis, analyze_query


def _analyze(text: str, embedder: Embedder) -> QueryAnalysis:
    return analyze_query(text, embedder, embedder.encode([text])[0])


@pytest.mark.parametrize(
    ("text", "intent", "top_domain"),
    [
        ("AI regulation impact on fintech product strategy", "comprehensive", "regulation"),
        ("Write a LinkedIn post about stablecoin payments", "linkedin_post", "fintech"),
        ("A quick thread on central bank rate cuts", "x_thread", "finance"),
        ("Outline a blog on open banking rules in Europe", "blog_outline", "finance"),
        ("product-led growth pricing lessons", "comprehensive", "product"),
        ("chip export controls and geopolitics", "comprehensive", "policy"),
        ("Post for LinkedIn and a thread for X on AI agents", "comprehensive", "ai"),
    ],
)
def test_intent_and_leading_domain(
    text: str, intent: str, top_domain: str, embedder: Embedder
) -> None:
    analysis = _analyze(text, embedder)
    assert analysis.intent == intent
    assert next(iter(analysis.domains)) == top_domain
    assert sum(analysis.domains.values()) == pytest.approx(1.0, abs=0.01)
    assert list(analysis.domains.values()) == sorted(analysis.domains.values(), reverse=True)


def test_words_match_whole_words_only(embedder: Embedder) -> None:
    analysis = _analyze("He said the retail market is booming", embedder)
    assert "ai" not in analysis.domains
    assert not any("domain ai" in signal for signal in analysis.signals)
    named = _analyze("What AI means for retail", embedder)
    assert any(signal == "domain ai: the query says ai" for signal in named.signals)


def test_keywords_name_the_topic_not_the_request(embedder: Embedder) -> None:
    analysis = _analyze("Write a LinkedIn post about stablecoin payments", embedder)
    assert analysis.keywords == ["stablecoin", "payments"]


def test_evidence_level_follows_the_request(embedder: Embedder) -> None:
    assert (
        _analyze("What do the numbers say about neobank profitability?", embedder).evidence_level
        == "deep"
    )
    assert _analyze("quick thread on GPU supply", embedder).evidence_level == "light"
    complex_query = _analyze("AI regulation impact on fintech product strategy", embedder)
    assert complex_query.complexity == "high"
    assert complex_query.evidence_level == "deep"


def test_a_query_like_no_domain_gets_none(embedder: Embedder) -> None:
    analysis = _analyze("quick thread on GPU supply", embedder)
    assert analysis.domains == {}
    assert "domains: none; the query resembles no domain" in analysis.signals


def test_comprehensive_asks_for_every_format(embedder: Embedder) -> None:
    assert _analyze("central bank rate cuts", embedder).formats == (
        "linkedin_post",
        "x_thread",
        "blog_outline",
    )
    assert _analyze("a thread on rate cuts", embedder).formats == ("x_thread",)
