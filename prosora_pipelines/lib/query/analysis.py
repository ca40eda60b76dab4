"""Phase 1, query analysis: what the user asks for, offline and explainable.

- Intent: a format named as a whole word ("thread", "linkedin", "outline") decides it; one
  format named means that format, several mean ``comprehensive``. Otherwise the query is
  compared by meaning with the intent prototypes, and an intent is taken only when its best
  prototype is similar enough (``INTENT_MIN_SIMILARITY``) and clearly ahead of the others;
  a topic-only query is ``comprehensive``.
- Domains: cosine similarity with each domain's prototype centroid, plus
  ``DOMAIN_TERM_BONUS`` when the query names the domain outright, turned into weights by a
  softmax at temperature ``DOMAIN_TEMPERATURE``; weights under ``DOMAIN_MIN_WEIGHT`` are
  dropped and the rest sum to 1. A query no domain resembles (best similarity under
  ``DOMAIN_MIN_SIMILARITY``, no domain named) gets no domains rather than an even spread.
- Complexity counts what makes a question hard: several domains, many content words, and
  causal or comparative words ("impact", "versus", "trade-off").
- Evidence level: ``deep`` when the query asks for data or research or is complex,
  ``light`` for quick takes on simple questions, else ``standard``.
- Keywords: the query's content words that name its topic (not "draft", "thread"), in
  order, without repeats.

Every decision adds a line to ``signals``, so a user can see why. An LLM may refine the
result (``llm_drafting.refine_analysis``); the offline result stands when it fails.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.query.prototypes import (
    DOMAIN_PROTOTYPES,
    DOMAIN_TERMS,
    FORMAT_TERMS,
    INTENT_PROTOTYPES,
)
from prosora_pipelines.lib.query.words import content_words, words

Intent = Literal["linkedin_post", "x_thread", "blog_outline", "comprehensive"]
Complexity = Literal["low", "medium", "high"]
EvidenceLevel = Literal["light", "standard", "deep"]
ALL_FORMATS: tuple[ContentFormat, ...] = ("linkedin_post", "x_thread", "blog_outline")

INTENT_MIN_SIMILARITY = 0.45
INTENT_MIN_MARGIN = 0.05
DOMAIN_TERM_BONUS = 0.15
DOMAIN_TEMPERATURE = 0.1
DOMAIN_MIN_SIMILARITY = 0.2
DOMAIN_MIN_WEIGHT = 0.1
MAX_DOMAINS = 4
MAX_KEYWORDS = 12

COMPLEX_WORDS = frozenset(
    {
        "impact",
        "impacts",
        "effect",
        "effects",
        "implications",
        "versus",
        "vs",
        "compare",
        "comparison",
        "trade-off",
        "trade-offs",
        "tradeoffs",
        "why",
        "how",
        "future",
        "strategy",
        "second-order",
    }
)
DATA_WORDS = frozenset(
    {
        "data",
        "numbers",
        "statistics",
        "stats",
        "evidence",
        "research",
        "study",
        "studies",
        "report",
        "figures",
        "benchmark",
        "benchmarks",
        "survey",
    }
)
QUICK_WORDS = frozenset({"quick", "short", "brief", "hot", "take", "thoughts", "opinion"})
# Words about the request rather than its topic; never keywords.
REQUEST_WORDS = frozenset(
    {"draft", "post", "posts", "something", "piece", "content", "help", "create", "say"}
).union(*FORMAT_TERMS.values(), QUICK_WORDS)


class QueryAnalysis(BaseModel):
    """The analysis of one query; also the JSON shape an LLM refinement must return."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: Intent
    domains: dict[str, float] = Field(description="Domain weights summing to 1, largest first.")
    complexity: Complexity
    evidence_level: EvidenceLevel
    keywords: list[str] = Field(max_length=MAX_KEYWORDS)
    signals: list[str] = Field(default_factory=list)
    source: Literal["offline", "llm"] = "offline"

    @property
    def formats(self) -> tuple[ContentFormat, ...]:
        """The formats the intent asks for."""
        if self.intent == "comprehensive":
            return ALL_FORMATS
        return (self.intent,)


@dataclass(frozen=True)
class _PrototypeVectors:
    intent_labels: tuple[str, ...]
    intent_vectors: npt.NDArray[np.float32]
    domain_labels: tuple[str, ...]
    domain_centroids: npt.NDArray[np.float32]


_prototype_cache: dict[str, _PrototypeVectors] = {}
_prototype_lock = threading.Lock()


def _prototype_vectors(embedder: Embedder) -> _PrototypeVectors:
    """The prototypes embedded by this model, computed once per model version."""
    key = f"{embedder.info.model_id}@{embedder.info.version}"
    with _prototype_lock:
        if key not in _prototype_cache:
            intents = [
                (label, text) for label, texts in INTENT_PROTOTYPES.items() for text in texts
            ]
            domain_texts = [text for texts in DOMAIN_PROTOTYPES.values() for text in texts]
            # One call for every prototype: a few forward passes instead of one per domain.
            vectors = embedder.encode_queries([text for _, text in intents] + domain_texts)
            intent_vectors = vectors[: len(intents)]
            centroids = []
            start = len(intents)
            for texts in DOMAIN_PROTOTYPES.values():
                centroid = vectors[start : start + len(texts)].mean(axis=0)
                centroids.append(centroid / np.linalg.norm(centroid))
                start += len(texts)
            _prototype_cache[key] = _PrototypeVectors(
                intent_labels=tuple(label for label, _ in intents),
                intent_vectors=intent_vectors,
                domain_labels=tuple(DOMAIN_PROTOTYPES),
                domain_centroids=np.asarray(centroids, dtype=np.float32),
            )
        return _prototype_cache[key]


def _intent(
    query_words: set[str], vector: npt.NDArray[np.float32], prototypes: _PrototypeVectors
) -> tuple[Intent, str]:
    named = sorted(fmt for fmt, terms in FORMAT_TERMS.items() if query_words & terms)
    if len(named) == 1:
        return named[0], f"intent {named[0]}: the query names the format"  # type: ignore[return-value]
    if len(named) > 1:
        return "comprehensive", f"intent comprehensive: the query names {', '.join(named)}"
    similarities = prototypes.intent_vectors @ vector
    best: dict[str, float] = {}
    for label, similarity in zip(prototypes.intent_labels, similarities, strict=True):
        best[label] = max(best.get(label, -1.0), float(similarity))
    ranked = sorted(best.items(), key=lambda item: -item[1])
    (label, top), (_, runner_up) = ranked[0], ranked[1]
    if top >= INTENT_MIN_SIMILARITY and top - runner_up >= INTENT_MIN_MARGIN:
        return label, f"intent {label}: closest prototype request (similarity {top:.2f})"  # type: ignore[return-value]
    return "comprehensive", f"intent comprehensive: no format asked for (best match {top:.2f})"


def _domains(
    query_words: set[str], vector: npt.NDArray[np.float32], prototypes: _PrototypeVectors
) -> tuple[dict[str, float], list[str]]:
    signals = []
    scores = prototypes.domain_centroids @ vector
    adjusted = []
    for label, score in zip(prototypes.domain_labels, scores, strict=True):
        named = query_words & DOMAIN_TERMS.get(label, frozenset())
        if named:
            signals.append(f"domain {label}: the query says {', '.join(sorted(named))}")
        adjusted.append(float(score) + (DOMAIN_TERM_BONUS if named else 0.0))
    if max(adjusted) < DOMAIN_MIN_SIMILARITY:
        return {}, ["domains: none; the query resembles no domain"]
    logits = np.asarray(adjusted) / DOMAIN_TEMPERATURE
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    kept = sorted(
        (
            (label, float(weight))
            for label, weight in zip(prototypes.domain_labels, weights, strict=True)
            if weight >= DOMAIN_MIN_WEIGHT
        ),
        key=lambda item: -item[1],
    )[:MAX_DOMAINS]
    total = sum(weight for _, weight in kept)
    return {label: round(weight / total, 3) for label, weight in kept}, signals


def _complexity(query_words: set[str], keywords: list[str], domains: dict[str, float]) -> int:
    significant_domains = sum(1 for weight in domains.values() if weight >= 0.2)
    return (
        (significant_domains >= 2)
        + (significant_domains >= 3)
        + (len(keywords) >= 6)
        + bool(query_words & COMPLEX_WORDS)
    )


def analyze_query(text: str, embedder: Embedder, vector: npt.NDArray[np.float32]) -> QueryAnalysis:
    """The offline analysis of ``text``, whose embedding by ``embedder`` is ``vector``."""
    prototypes = _prototype_vectors(embedder)
    query_words = set(words(text))
    topic_words = [word for word in content_words(text) if word not in REQUEST_WORDS]
    keywords = list(dict.fromkeys(topic_words))[:MAX_KEYWORDS]
    intent, intent_signal = _intent(query_words, vector, prototypes)
    domains, signals = _domains(query_words, vector, prototypes)
    score = _complexity(query_words, keywords, domains)
    complexity: Complexity = "high" if score >= 3 else "medium" if score >= 1 else "low"
    asks_for_data = sorted(query_words & DATA_WORDS)
    evidence_level: EvidenceLevel
    if asks_for_data or complexity == "high":
        evidence_level = "deep"
        reason = f"asks for {', '.join(asks_for_data)}" if asks_for_data else "complex query"
    elif complexity == "low" and query_words & QUICK_WORDS:
        evidence_level, reason = "light", "a quick take"
    else:
        evidence_level, reason = "standard", "default"
    return QueryAnalysis(
        intent=intent,
        domains=domains,
        complexity=complexity,
        evidence_level=evidence_level,
        keywords=keywords,
        signals=[
            intent_signal,
            *signals,
            f"complexity {complexity} (score {score} of 4)",
            f"evidence {evidence_level}: {reason}",
        ],
    )
