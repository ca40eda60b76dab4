"""Hybrid article search: meaning and words, weighed by credibility and recency, diverse.

1. Candidates: the nearest chunks by cosine distance and the best chunks by full-text BM25,
   ``candidates`` of each, with every filter applied inside the LanceDB query (prefilter),
   so filtered-out rows never crowd out the ones asked for.
2. Articles: each list is collapsed to articles, each scored by its best chunk (cosine
   similarity, or BM25), which becomes the passage (and, shortened, the snippet); an article
   with many matching chunks does not crowd the list.
3. Fusion: relative score fusion. Each list's scores are min-max normalized to 0..1 (so
   BM25's unbounded scale and cosine's are comparable), then combined as
   ``vector_share * vector + (1 - vector_share) * text``, an article missing from a list
   scoring 0 there. With ``vector_share`` 0.9 the words act as a boost for exact terms
   (names, acronyms) on top of meaning. Measured on the 36 labelled sample queries
   (``test_retrieval_quality``), this beat reciprocal rank fusion, which lost relevant
   articles that only the vector list found (recall@10 0.94 against vector's 0.95).
4. Re-ranking: ``relevance * r + credibility * c + recency * 0.5 ** (age_days / half_life)``
   where ``r`` is the fused score divided by the best fused score (so 1 for the top hit),
   ``c`` the source credibility (0..1); undated articles get recency 0. Weights are
   :class:`RankingWeights` and configurable.
5. Diversity: results are taken in score order, but a source already holding
   ``max_per_source`` results is passed over while other sources still have candidates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from prosora_pipelines.lib.index.vector_store import async_view, read_together, sql_string
from prosora_pipelines.lib.telemetry.tracing import span

if TYPE_CHECKING:
    from lancedb.query import AsyncFTSQuery, AsyncVectorQuery
    from lancedb.table import AsyncTable, Table

SNIPPET_CHARACTERS = 320
HNSW_MIN_EF = 50
CANDIDATE_COLUMNS = [
    "chunk_id",
    "article_id",
    "text",
    "title",
    "url",
    "source_id",
    "tier",
    "credibility",
    "domains",
    "published_at",
]


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    VECTOR = "vector"
    FULL_TEXT = "fts"


@dataclass(frozen=True)
class SearchFilters:
    sources: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    min_credibility: float | None = None


@dataclass(frozen=True)
class RankingWeights:
    vector_share: float = 0.9
    relevance: float = 1.0
    credibility: float = 0.25
    recency: float = 0.15
    recency_half_life_days: float = 30.0
    max_per_source: int = 3


class ArticleHit(BaseModel):
    """One article a search found, scored by its best matching passage."""

    # The one article record: search returns it, a query's evidence numbers it
    # (``lib.query.evidence``), and the API's search response shows it without the passage
    # and chunk, which are for drafting.
    model_config = ConfigDict(frozen=True)

    article_id: str
    title: str
    url: str
    source_id: str
    tier: str
    credibility: float
    domains: tuple[str, ...]
    published_at: datetime | None
    snippet: str
    passage: str = Field(exclude=True)
    chunk_id: str = Field(exclude=True)
    score: float
    components: dict[str, float]


def _timestamp(value: datetime) -> str:
    utc = value.astimezone(UTC)
    # The year zero-padded: strftime("%Y") writes year 587 as "587", which SQL rejects.
    return "timestamp " + sql_string(f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z")


def filters_to_sql(filters: SearchFilters) -> str | None:
    """The SQL ``WHERE`` clause for ``filters``; None when nothing is filtered."""
    clauses: list[str] = []
    if filters.sources:
        clauses.append(f"source_id IN ({', '.join(map(sql_string, filters.sources))})")
    if filters.tiers:
        clauses.append(f"tier IN ({', '.join(map(sql_string, filters.tiers))})")
    if filters.domains:
        clauses.append(f"array_has_any(domains, [{', '.join(map(sql_string, filters.domains))}])")
    if filters.since is not None:
        clauses.append(f"published_at >= {_timestamp(filters.since)}")
    if filters.until is not None:
        clauses.append(f"published_at < {_timestamp(filters.until)}")
    if filters.min_credibility is not None:
        clauses.append(f"credibility >= {float(filters.min_credibility)!r}")
    return " AND ".join(clauses) if clauses else None


def min_max(scores: dict[str, float]) -> dict[str, float]:
    """Scores rescaled to 0..1 within their list; a single or all-equal list scores 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def relative_score_fusion(
    vector: dict[str, float], text: dict[str, float], vector_share: float
) -> dict[str, float]:
    """``vector_share`` of the normalized vector score plus the rest of the text score."""
    vector, text = min_max(vector), min_max(text)
    return {
        key: vector_share * vector.get(key, 0.0) + (1 - vector_share) * text.get(key, 0.0)
        for key in vector.keys() | text.keys()
    }


def recency_weight(published_at: datetime | None, now: datetime, half_life_days: float) -> float:
    """1 for today, 0.5 one half-life ago; 0 for undated articles."""
    if published_at is None:
        return 0.0
    age_days = max(0.0, (now - published_at).total_seconds() / 86_400)
    return float(0.5 ** (age_days / half_life_days))


def diversify(hits: Sequence[ArticleHit], k: int, max_per_source: int) -> list[ArticleHit]:
    """Top ``k`` in order, at most ``max_per_source`` per source while others remain."""
    chosen: list[ArticleHit] = []
    held_back: list[ArticleHit] = []
    per_source: dict[str, int] = defaultdict(int)
    for hit in hits:
        if len(chosen) == k:
            break
        if per_source[hit.source_id] < max_per_source:
            chosen.append(hit)
            per_source[hit.source_id] += 1
        else:
            held_back.append(hit)
    chosen.extend(held_back[: k - len(chosen)])
    return chosen


def _passage(text: str, title: str) -> str:
    """The chunk's text without the title that every chunk repeats."""
    return text.removeprefix(title).strip() if title else text


def _snippet(body: str) -> str:
    if len(body) <= SNIPPET_CHARACTERS:
        return body
    return body[:SNIPPET_CHARACTERS].rsplit(" ", 1)[0] + "…"


def _vector_query(
    view: AsyncTable, vector: npt.NDArray[np.float32], where: str | None, limit: int
) -> AsyncVectorQuery:
    # HNSW explores ``ef`` candidates; LanceDB's default of 1.5 x limit gave a top-10 recall
    # of 0.88 at 100k chunks (benchmarks/search.py), a floor of 50 gives about 0.96.
    query = (
        view.query()
        .nearest_to(vector)
        .column("vector")
        .distance_type("cosine")
        .ef(max(HNSW_MIN_EF, int(1.5 * limit)))
    )
    if where:
        query = query.where(where)
    return query.limit(limit).select([*CANDIDATE_COLUMNS, "_distance"])


def _text_query(view: AsyncTable, text: str, where: str | None, limit: int) -> AsyncFTSQuery:
    query = view.query().nearest_to_text(text, columns="text")
    if where:
        query = query.where(where)
    return query.limit(limit).select([*CANDIDATE_COLUMNS, "_score"])


def _best_per_article(
    rows: list[dict[str, Any]],
    score_of: Callable[[dict[str, Any]], float],
    best_row: dict[str, dict[str, Any]],
) -> dict[str, float]:
    """Each article's best chunk score; remembers the chunk row that earned it."""
    scores: dict[str, float] = {}
    for row in rows:
        score = float(score_of(row))
        article_id = row["article_id"]
        if article_id not in scores or score > scores[article_id]:
            scores[article_id] = score
            best_row[article_id] = row
    return scores


def search_articles(
    table: Table,
    query: str,
    query_vector: npt.NDArray[np.float32] | None,
    *,
    k: int = 10,
    mode: SearchMode = SearchMode.HYBRID,
    filters: SearchFilters | None = None,
    weights: RankingWeights | None = None,
    candidates: int | None = None,
    now: datetime | None = None,
) -> list[ArticleHit]:
    """The ``k`` best articles for ``query`` (see the module docstring for how)."""
    filters = filters or SearchFilters()
    weights = weights or RankingWeights()
    now = now or datetime.now(UTC)
    where = filters_to_sql(filters)
    limit = candidates or max(50, 5 * k)
    vector_rows: dict[str, dict[str, Any]] = {}
    text_rows: dict[str, dict[str, Any]] = {}
    vector_scores: dict[str, float] = {}
    text_scores: dict[str, float] = {}
    if mode in (SearchMode.HYBRID, SearchMode.VECTOR) and query_vector is None:
        raise ValueError("vector and hybrid search need the query's vector")
    # Both candidate lists come from one concurrent read; filters are LanceDB prefilters.
    view: AsyncTable = async_view(table)
    reads: dict[str, AsyncVectorQuery | AsyncFTSQuery] = {}
    if query_vector is not None and mode in (SearchMode.HYBRID, SearchMode.VECTOR):
        reads["vector"] = _vector_query(view, query_vector, where, limit)
    if mode in (SearchMode.HYBRID, SearchMode.FULL_TEXT) and query.strip():
        reads["text"] = _text_query(view, query, where, limit)
    with span("lancedb.search", table=table.name, mode=mode.value, reads=len(reads)):
        found = dict(zip(reads, read_together(list(reads.values())), strict=True))
    if "vector" in found:
        vector_scores = _best_per_article(
            found["vector"].to_pylist(), lambda r: 1.0 - r["_distance"], vector_rows
        )
    if "text" in found:
        text_scores = _best_per_article(found["text"].to_pylist(), lambda r: r["_score"], text_rows)
    share = {SearchMode.VECTOR: 1.0, SearchMode.FULL_TEXT: 0.0}.get(mode, weights.vector_share)
    fused = relative_score_fusion(vector_scores, text_scores, share)
    if not fused:
        return []
    best_row = {**text_rows, **vector_rows}
    top = max(fused.values()) or 1.0
    hits: list[ArticleHit] = []
    for article_id, fused_score in fused.items():
        row = best_row[article_id]
        chunk_id = row["chunk_id"]
        relevance = fused_score / top
        recency = recency_weight(row["published_at"], now, weights.recency_half_life_days)
        credibility = float(row["credibility"])
        passage = _passage(row["text"], row["title"])
        score = (
            weights.relevance * relevance
            + weights.credibility * credibility
            + weights.recency * recency
        )
        hits.append(
            ArticleHit(
                article_id=article_id,
                title=row["title"],
                url=row["url"],
                source_id=row["source_id"],
                tier=row["tier"],
                credibility=credibility,
                domains=tuple(row["domains"] or ()),
                published_at=row["published_at"],
                snippet=_snippet(passage),
                passage=passage,
                chunk_id=chunk_id,
                score=score,
                components={"relevance": relevance, "credibility": credibility, "recency": recency},
            )
        )
    hits.sort(key=lambda hit: (-hit.score, hit.article_id))
    return diversify(hits, k, weights.max_per_source)
