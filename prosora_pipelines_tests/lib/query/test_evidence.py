"""Evidence is the search's article record, numbered; what a query stores and answers of it
is a fixed set of fields in a fixed order."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from prosora_pipelines.lib.index.search import ArticleHit
from prosora_pipelines.lib.query.evidence import EVIDENCE_FIELDS, Evidence, evidence_json


def _hit(published_at: datetime | None) -> ArticleHit:
    return ArticleHit(
        article_id="a1",
        title="Title",
        url="https://e.example/a1",
        source_id="ledger",
        tier="premium",
        credibility=float(np.float32(0.9)),
        domains=("fintech",),
        published_at=published_at,
        snippet="Snippet…",
        passage="The whole passage.",
        chunk_id="a1:0",
        score=1.234567891,
        components={"relevance": 0.123456789},
    )


def test_evidence_is_stored_as_its_fields_in_order_with_the_score_to_four_places() -> None:
    published = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    evidence = Evidence(ref=1, **dict(_hit(published)))
    undated = Evidence(ref=2, **dict(_hit(None)))
    stored = evidence_json([evidence, undated])
    assert [list(item) for item in stored] == [list(EVIDENCE_FIELDS)] * 2
    assert stored[0] == {
        "ref": 1,
        "article_id": "a1",
        "title": "Title",
        "url": "https://e.example/a1",
        "source_id": "ledger",
        "tier": "premium",
        "credibility": float(np.float32(0.9)),
        "published_at": "2026-11-02T08:30:00+00:00",
        "snippet": "Snippet…",
        "score": 1.2346,
    }
    assert stored[1]["published_at"] is None
    assert evidence.text == "Title\nThe whole passage."
    assert evidence.score == 1.234567891, "the record keeps the full score for ranking"


def test_the_shown_article_leaves_out_what_is_for_drafting() -> None:
    shown = _hit(None).model_dump(mode="json")
    assert "passage" not in shown and "chunk_id" not in shown
    assert shown["domains"] == ["fintech"]
    assert "passage" not in ArticleHit.model_json_schema(mode="serialization")["properties"]
