"""Phase 2, evidence: the articles a query's drafts may draw on, from the materialized index.

The hybrid search (``lib.index.search``) does the retrieval; the analysis steers it:

- the evidence level sets how many articles and how credible (``EVIDENCE_PLANS``); a
  ``deep`` query asks for sources of credibility ``DEEP_MIN_CREDIBILITY`` or more, and falls
  back to any credibility when fewer than ``MIN_EVIDENCE`` such articles match;
- the domains re-rank: each hit gains ``DOMAIN_BOOST`` times the analysis weight of the
  domains its source covers, so a fintech question prefers fintech sources without
  excluding a strong match from elsewhere.

Nothing here touches the network: a query reads only what the pipelines materialized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import field_serializer

from prosora_pipelines.lib.index.search import (
    ArticleHit,
    RankingWeights,
    SearchFilters,
    diversify,
    search_articles,
)
from prosora_pipelines.lib.query.analysis import EvidenceLevel, QueryAnalysis

if TYPE_CHECKING:
    from lancedb.table import Table

DOMAIN_BOOST = 0.2
DEEP_MIN_CREDIBILITY = 0.75
MIN_EVIDENCE = 3
# Chunks asked of each index: enough for the largest plan's pool of 16 articles, and no
# more, since every candidate costs conversion time on the query path.
CANDIDATES = 50


@dataclass(frozen=True)
class EvidencePlan:
    articles: int
    min_credibility: float | None


EVIDENCE_PLANS: dict[EvidenceLevel, EvidencePlan] = {
    "light": EvidencePlan(articles=4, min_credibility=None),
    "standard": EvidencePlan(articles=6, min_credibility=None),
    "deep": EvidencePlan(articles=8, min_credibility=DEEP_MIN_CREDIBILITY),
}


class Evidence(ArticleHit):
    """One article a draft may cite, numbered ``ref`` (1-based) within its query."""

    ref: int

    @property
    def text(self) -> str:
        """Everything a draft citing this article may take facts from."""
        return f"{self.title}\n{self.passage}"

    @field_serializer("score")
    def _score(self, score: float) -> float:
        return round(score, 4)

    @field_serializer("published_at")
    def _published_at(self, published_at: datetime | None) -> str | None:
        return published_at.isoformat() if published_at else None


# What a query stores and answers of each evidence item, in this order.
EVIDENCE_FIELDS = (
    "ref",
    "article_id",
    "title",
    "url",
    "source_id",
    "tier",
    "credibility",
    "published_at",
    "snippet",
    "score",
)


def evidence_json(evidence: Sequence[Evidence]) -> list[dict[str, Any]]:
    """``evidence`` as a query stores it and answers with (see ``EVIDENCE_FIELDS``)."""
    dumped = (item.model_dump(mode="json", include=set(EVIDENCE_FIELDS)) for item in evidence)
    return [{name: fields[name] for name in EVIDENCE_FIELDS} for fields in dumped]


def domain_boosted(
    hits: list[ArticleHit],
    domain_weights: Mapping[str, float],
    articles: int,
    source_penalty: float,
) -> list[ArticleHit]:
    """``hits`` re-ranked by the domains they cover, then diversified down to ``articles``."""
    boosted = [
        hit.model_copy(
            update={
                "score": hit.score
                + DOMAIN_BOOST * sum(domain_weights.get(d, 0.0) for d in hit.domains)
            }
        )
        for hit in hits
    ]
    boosted.sort(key=lambda hit: (-hit.score, hit.article_id))
    return diversify(boosted, articles, source_penalty)


def gather_evidence(
    table: Table,
    query: str,
    query_vector: npt.NDArray[np.float32],
    analysis: QueryAnalysis,
    *,
    filters: SearchFilters | None = None,
    articles: int | None = None,
    now: datetime | None = None,
) -> list[Evidence]:
    """The evidence for ``query``, numbered in rank order (see the module docstring)."""
    plan = EVIDENCE_PLANS[analysis.evidence_level]
    wanted = articles or plan.articles
    filters = filters or SearchFilters()
    # Twice as many hits as wanted, so the domain re-ranking has something to choose from.
    pool = 2 * wanted
    hits: list[ArticleHit] = []
    if plan.min_credibility is not None and filters.min_credibility is None:
        credible = replace(filters, min_credibility=plan.min_credibility)
        hits = search_articles(
            table, query, query_vector, k=pool, filters=credible, candidates=CANDIDATES, now=now
        )
    if len(hits) < MIN_EVIDENCE:
        hits = search_articles(
            table, query, query_vector, k=pool, filters=filters, candidates=CANDIDATES, now=now
        )
    chosen = domain_boosted(
        hits, analysis.domains, wanted, source_penalty=RankingWeights().source_penalty
    )
    return [Evidence(ref=position, **dict(hit)) for position, hit in enumerate(chosen, start=1)]
