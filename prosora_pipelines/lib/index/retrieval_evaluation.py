"""Scoring search systems against hand-graded queries, beside two plain baselines.

The baselines are what a few lines of code give, so the product's search is held to
beating them on the same corpus:

- plain BM25 over each article's title and text: lower-cased ``\\w+`` tokens, no
  stemming, no stop words, ``k1`` 1.2 and ``b`` 0.75;
- plain dense retrieval: one MiniLM vector per article for its title and opening text
  (the model reads at most its window, so this is the article's first chunk vector, which
  holds exactly that), ranked by cosine similarity.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from prosora_pipelines.lib.index.article_embedding import index_articles
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.feed_folder_corpus import FOLDER_FETCHED_AT, feed_folder_articles
from prosora_pipelines.lib.index.relevance_judgments import (
    JudgedQuery,
    QueryKind,
    load_judged_queries,
    ndcg_at,
    recall_at,
)
from prosora_pipelines.lib.index.search import RankingWeights, SearchMode, search_articles
from prosora_pipelines.lib.index.vector_store import ArticleIndex

CUTOFF = 10
_TOKEN = re.compile(r"\w+")

Ranker = Callable[[JudgedQuery], list[str]]
"""A system under test: the article ids it ranks first for a query, best first."""


def plain_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class PlainBM25:
    """Okapi BM25 over whole articles (title and text), built in memory."""

    def __init__(
        self, article_ids: Sequence[str], documents: Sequence[str], k1: float = 1.2, b: float = 0.75
    ) -> None:
        self._ids = list(article_ids)
        self._k1, self._b = k1, b
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths = np.zeros(len(documents), dtype=np.float64)
        for position, document in enumerate(documents):
            counts = Counter(plain_tokens(document))
            self._lengths[position] = sum(counts.values())
            for token, count in counts.items():
                self._postings[token].append((position, count))
        self._average = float(self._lengths.mean()) if len(documents) else 0.0

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        """Each article's score, in the order the articles were given."""
        total = np.zeros(len(self._ids), dtype=np.float64)
        documents = len(self._ids)
        for token in set(plain_tokens(query)):
            postings = self._postings.get(token)
            if not postings:
                continue
            idf = math.log(1 + (documents - len(postings) + 0.5) / (len(postings) + 0.5))
            positions = np.array([position for position, _ in postings])
            counts = np.array([count for _, count in postings], dtype=np.float64)
            norm = 1 - self._b + self._b * self._lengths[positions] / self._average
            total[positions] += idf * counts * (self._k1 + 1) / (counts + self._k1 * norm)
        return total

    def rank(self, query: str, k: int) -> list[str]:
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self._ids[position] for position in order if scores[position] > 0]


def first_chunk_vectors(table: Any) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Article ids and the vector of each article's first chunk (title and opening text)."""
    rows = (
        table.search()
        .where("position = 0")
        .select(["article_id", "vector"])
        .limit(max(1, table.count_rows()))
        .to_arrow()
    )
    ids = rows.column("article_id").to_pylist()
    vectors = np.asarray(rows.column("vector").to_pylist(), dtype=np.float32)
    order = np.argsort(ids, kind="stable")
    return [ids[position] for position in order], vectors[order]


def plain_dense_rank(
    article_ids: Sequence[str],
    vectors: npt.NDArray[np.float32],
    query_vector: npt.NDArray[np.float32],
    k: int,
) -> list[str]:
    similarity = vectors @ query_vector
    order = np.argsort(-similarity, kind="stable")[:k]
    return [article_ids[position] for position in order]


def per_query_scores(
    systems: Mapping[str, Ranker], queries: Sequence[JudgedQuery], k: int = CUTOFF
) -> pl.DataFrame:
    """One row per system and query: recall@k and nDCG@k, with the query's kind and half."""
    rows: list[dict[str, Any]] = []
    for name, ranker in systems.items():
        for query in queries:
            ranked = ranker(query)
            rows.append(
                {
                    "system": name,
                    "query": query.id,
                    "text": query.text,
                    "kind": query.kind.value,
                    "split": query.split.value,
                    "recall": recall_at(ranked, query, k),
                    "ndcg": ndcg_at(ranked, query, k),
                }
            )
    return pl.DataFrame(rows)


def summary(scores: pl.DataFrame) -> pl.DataFrame:
    """Mean recall and nDCG per system and half, over all queries and the paraphrased ones."""
    overall = scores.with_columns(pl.lit("all").alias("subset"))
    paraphrased = scores.filter(pl.col("kind") == QueryKind.PARAPHRASED.value).with_columns(
        pl.lit(QueryKind.PARAPHRASED.value).alias("subset")
    )
    return (
        pl.concat([overall, paraphrased])
        .group_by("split", "subset", "system", maintain_order=True)
        .agg(
            pl.len().alias("queries"),
            pl.col("recall").mean().alias("recall"),
            pl.col("ndcg").mean().alias("ndcg"),
        )
        .sort("split", "subset", "system")
    )


def feed_folder_systems(
    articles: pl.DataFrame,
    table: Any,
    embedder: Embedder,
    queries: Sequence[JudgedQuery],
    *,
    weights: RankingWeights | None = None,
    now: datetime = FOLDER_FETCHED_AT,
    k: int = CUTOFF,
) -> dict[str, Ranker]:
    """The two plain baselines and the product's three search modes over one corpus
    (``articles``, indexed in ``table``), as rankers for :func:`per_query_scores`."""
    vectors = dict(
        zip(
            [query.id for query in queries],
            embedder.encode_queries([query.text for query in queries]),
            strict=True,
        )
    )
    bm25 = PlainBM25(
        articles["id"].to_list(),
        [
            f"{title}\n\n{text}"
            for title, text in zip(articles["title"], articles["text"], strict=True)
        ],
    )
    dense_ids, dense_vectors = first_chunk_vectors(table)

    def product(mode: SearchMode) -> Ranker:
        def rank(query: JudgedQuery) -> list[str]:
            hits = search_articles(
                table, query.text, vectors[query.id], k=k, mode=mode, weights=weights, now=now
            )
            return [hit.article_id for hit in hits]

        return rank

    return {
        "plain BM25": lambda query: bm25.rank(query.text, k),
        "plain dense": lambda query: plain_dense_rank(
            dense_ids, dense_vectors, vectors[query.id], k
        ),
        "full text": product(SearchMode.FULL_TEXT),
        "vector": product(SearchMode.VECTOR),
        "hybrid": product(SearchMode.HYBRID),
    }


def index_feed_folder_articles(articles: pl.DataFrame, embedder: Embedder, folder: Path) -> Any:
    """``articles`` indexed the product's way in a LanceDB folder of their own, and the
    chunk table; a folder indexed before is brought up to date, encoding only what changed."""
    report = index_articles(articles, embedder, ArticleIndex(folder))
    return ArticleIndex(folder).open(report.manifest.table)


def score_feed_folder(
    feeds: Path, judgments: Path, index_folder: Path, embedder: Embedder
) -> pl.DataFrame:
    """Per-query recall@10 and nDCG@10 of the baselines and the product's search modes over
    the articles of the feed documents in ``feeds`` (see :func:`per_query_scores`)."""
    articles = feed_folder_articles(feeds)
    table = index_feed_folder_articles(articles, embedder, index_folder)
    return score_indexed_articles(articles, table, judgments, embedder)


def score_indexed_articles(
    articles: pl.DataFrame, table: Any, judgments: Path, embedder: Embedder
) -> pl.DataFrame:
    """:func:`score_feed_folder` over articles already indexed in ``table``."""
    queries = load_judged_queries(judgments)
    return per_query_scores(feed_folder_systems(articles, table, embedder, queries), queries)
