"""Hybrid article search: meaning and words, weighed by credibility and recency.

1. Candidates: the nearest chunks by cosine distance and the best chunks by full-text BM25,
   ``candidates`` of each, with every filter applied inside the LanceDB query (prefilter),
   so filtered-out rows never crowd out the ones asked for.
2. Articles: each list is collapsed to articles. On the vector side an article scores its
   best chunk's cosine plus ``title_share`` times its title's cosine (every chunk row
   carries its article's title vector), so an article whose title names the subject beats
   one that mentions it in passing; on the text side its best chunk's BM25. The best chunk
   becomes the passage (and, shortened, the snippet).
3. Fusion: relative score fusion. Each list's scores are min-max normalized to 0..1 (so
   BM25's unbounded scale and cosine's are comparable), then combined as
   ``vector_share * vector + (1 - vector_share) * text``, an article missing from a list
   scoring 0 there.
4. Re-ranking: ``relevance * r + credibility * c + recency * 0.5 ** (age_days / half_life)``
   where ``r`` is the fused score divided by the best fused score (so 1 for the top hit),
   ``c`` the source credibility (0..1); undated articles get recency 0.
5. Diversity, soft: each pick is the best hit after ``source_penalty`` is taken off once for
   every result its source already has (0 leaves the score order as it is).

Weights are :class:`RankingWeights`. ``vector_share``, ``title_share``, ``recency`` and
``source_penalty`` were chosen on the tuning half of the hand-graded real-feed queries
(``prosora_pipelines_tests/data/relevance``, ``benchmarks/retrieval.py``), by the mean of
nDCG@10 over all of them and over the paraphrased ones; a penalty for repeated sources
lowered it at every value tried, so there is none by default. ``credibility`` could not be
chosen there (every source of those feeds has the same credibility) and stays as set.
Measured on that data and left out: a decayed sum of an article's chunk scores instead of
its best, z-score or max normalization and reciprocal rank fusion instead of min-max,
pseudo-relevance feedback (the query vector moved towards its first results).
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
    title_share: float = 0.5
    source_penalty: float = 0.0


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


def diversify(hits: Sequence[ArticleHit], k: int, source_penalty: float) -> list[ArticleHit]:
    """Top ``k``, each pick the best after ``source_penalty`` is taken off a hit's score once
    for every result of its source already chosen.

    A soft rule: a source's further articles still win when they lead the others by more
    than the penalty, so relevant articles from one prolific source stay in the list, while
    near-ties go to another voice. With no penalty the order is the score order.
    """
    remaining = list(hits)
    chosen: list[ArticleHit] = []
    per_source: dict[str, int] = defaultdict(int)
    while remaining and len(chosen) < k:
        best = max(
            range(len(remaining)),
            key=lambda i: (
                remaining[i].score - source_penalty * per_source[remaining[i].source_id],
                -i,
            ),
        )
        hit = remaining.pop(best)
        chosen.append(hit)
        per_source[hit.source_id] += 1
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
    return query.limit(limit).select([*CANDIDATE_COLUMNS, "title_vector", "_distance"])


def _text_query(view: AsyncTable, text: str, where: str | None, limit: int) -> AsyncFTSQuery:
    query = view.query().nearest_to_text(text, columns="text")
    if where:
        query = query.where(where)
    return query.limit(limit).select([*CANDIDATE_COLUMNS, "_score"])


@dataclass(frozen=True)
class Candidates:
    """The chunk rows both sides of a search found, before they are scored as articles."""

    vector_rows: list[dict[str, Any]]
    """Nearest chunks, each with its cosine ``_distance``."""
    text_rows: list[dict[str, Any]]
    """Best full-text chunks, each with its BM25 ``_score``."""


def best_per_article(
    rows: list[dict[str, Any]], score_of: Callable[[dict[str, Any]], float]
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Each article's best chunk score, and that chunk's row (which becomes the passage)."""
    scores: dict[str, float] = {}
    best_rows: dict[str, dict[str, Any]] = {}
    for row in rows:
        score = float(score_of(row))
        article_id = row["article_id"]
        if article_id not in scores or score > scores[article_id]:
            scores[article_id] = score
            best_rows[article_id] = row
    return scores, best_rows


def fetch_candidates(
    table: Table,
    query: str,
    query_vector: npt.NDArray[np.float32] | None,
    *,
    mode: SearchMode,
    where: str | None,
    limit: int,
) -> Candidates:
    """Both candidate lists, from one concurrent read; filters are LanceDB prefilters."""
    if mode in (SearchMode.HYBRID, SearchMode.VECTOR) and query_vector is None:
        raise ValueError("vector and hybrid search need the query's vector")
    view: AsyncTable = async_view(table)
    reads: dict[str, AsyncVectorQuery | AsyncFTSQuery] = {}
    if query_vector is not None and mode in (SearchMode.HYBRID, SearchMode.VECTOR):
        reads["vector"] = _vector_query(view, query_vector, where, limit)
    if mode in (SearchMode.HYBRID, SearchMode.FULL_TEXT) and query.strip():
        reads["text"] = _text_query(view, query, where, limit)
    with span("lancedb.search", table=table.name, mode=mode.value, reads=len(reads)):
        found = dict(zip(reads, read_together(list(reads.values())), strict=True))
    vector_rows: list[dict[str, Any]] = []
    if "vector" in found and query_vector is not None:
        found_vectors = found["vector"]
        # Flattened straight into NumPy: a list per row would cost more than the search.
        titles = (
            found_vectors.column("title_vector")
            .combine_chunks()
            .flatten()
            .to_numpy()
            .reshape(-1, query_vector.shape[0])
        )
        vector_rows = found_vectors.drop_columns(["title_vector"]).to_pylist()
        for row, similarity in zip(vector_rows, titles @ query_vector, strict=True):
            row["_title_similarity"] = float(similarity)
    return Candidates(
        vector_rows=vector_rows,
        text_rows=found["text"].to_pylist() if "text" in found else [],
    )


def rank_candidates(
    candidates: Candidates,
    *,
    k: int,
    mode: SearchMode,
    weights: RankingWeights,
    now: datetime,
) -> list[ArticleHit]:
    """The ``k`` best articles among ``candidates`` (steps 2 to 5 of the module docstring)."""
    vector_scores, vector_rows = best_per_article(
        candidates.vector_rows,
        lambda r: 1.0 - r["_distance"] + weights.title_share * r["_title_similarity"],
    )
    text_scores, text_rows = best_per_article(candidates.text_rows, lambda r: r["_score"])
    share = {SearchMode.VECTOR: 1.0, SearchMode.FULL_TEXT: 0.0}.get(mode, weights.vector_share)
    fused = relative_score_fusion(vector_scores, text_scores, share)
    if not fused:
        return []
    best_row = {**text_rows, **vector_rows}
    top = max(fused.values()) or 1.0
    hits: list[ArticleHit] = []
    for article_id, fused_score in fused.items():
        row = best_row[article_id]
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
                chunk_id=row["chunk_id"],
                score=score,
                components={"relevance": relevance, "credibility": credibility, "recency": recency},
            )
        )
    hits.sort(key=lambda hit: (-hit.score, hit.article_id))
    return diversify(hits, k, weights.source_penalty)


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
    found = fetch_candidates(
        table,
        query,
        query_vector,
        mode=mode,
        where=filters_to_sql(filters or SearchFilters()),
        limit=candidates or max(50, 5 * k),
    )
    return rank_candidates(
        found, k=k, mode=mode, weights=weights or RankingWeights(), now=now or datetime.now(UTC)
    )
