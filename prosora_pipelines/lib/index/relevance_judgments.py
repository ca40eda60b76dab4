"""Hand-graded search queries over a corpus, split for tuning and reporting, and the
measures the field scores rankings with (recall@k, nDCG@k).

A judgments folder holds ``queries.json`` (a list of ``{"id", "text", "kind"}``, ``kind``
``direct`` or ``paraphrased``) and ``judgments.json`` (rows ``{"query", "article_id", "url",
"title", "grade"}``; grade 0 not relevant, 1 partly, 2 on the question). Every pooled
article was judged, so an article without a row counts as not relevant.

Queries are split in halves by a hash of their id, stratified by kind: within each kind
the queries are ordered by the hash and alternate between the halves. A weight or a
threshold is chosen on the tuning half; figures are reported on the other one, so the split
never depends on how a system scores.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

from prosora_pipelines.lib.query.words import content_words, words

QUERIES_FILE = "queries.json"
JUDGMENTS_FILE = "judgments.json"
MAX_GRADE = 2


class QueryKind(StrEnum):
    DIRECT = "direct"
    PARAPHRASED = "paraphrased"
    """Worded with few words in common with the articles it should find."""


class Split(StrEnum):
    TUNING = "tuning"
    REPORTING = "reporting"


class JudgmentsError(ValueError):
    """A judgments folder that cannot be read as written, with what is wrong."""


@dataclass(frozen=True)
class JudgedQuery:
    id: str
    text: str
    kind: QueryKind
    split: Split
    grades: dict[str, int]
    """Article id to grade, for every judged article (0 included)."""

    @property
    def relevant(self) -> set[str]:
        return {article for article, grade in self.grades.items() if grade > 0}


def _hash(query_id: str) -> str:
    return hashlib.sha256(query_id.encode()).hexdigest()


def assign_splits(query_ids: Sequence[tuple[str, QueryKind]]) -> dict[str, Split]:
    """Each query's half: by kind, in hash order, alternating tuning and reporting."""
    splits: dict[str, Split] = {}
    for kind in QueryKind:
        ordered = sorted((q for q, k in query_ids if k is kind), key=_hash)
        for position, query_id in enumerate(ordered):
            splits[query_id] = Split.TUNING if position % 2 == 0 else Split.REPORTING
    return splits


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise JudgmentsError(f"{path} is missing") from error
    except json.JSONDecodeError as error:
        raise JudgmentsError(f"{path} is not valid JSON: {error}") from error


def load_judged_queries(folder: Path) -> list[JudgedQuery]:
    """The judged queries of ``folder``, in file order."""
    raw_queries = _read_json(folder / QUERIES_FILE)
    raw_judgments = _read_json(folder / JUDGMENTS_FILE)
    try:
        queries = [(str(q["id"]), str(q["text"]), QueryKind(q["kind"])) for q in raw_queries]
        grades: dict[str, dict[str, int]] = {query_id: {} for query_id, _, _ in queries}
        for row in raw_judgments:
            grade = int(row["grade"])
            if not 0 <= grade <= MAX_GRADE:
                raise JudgmentsError(f"grade {grade} of {row['query']} is not 0..{MAX_GRADE}")
            if row["query"] not in grades:
                raise JudgmentsError(f"judgment for unknown query {row['query']!r}")
            grades[row["query"]][str(row["article_id"])] = grade
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, JudgmentsError):
            raise
        raise JudgmentsError(f"malformed judgments in {folder}: {error!r}") from error
    if len(grades) != len(queries):
        raise JudgmentsError(f"query ids repeat in {folder / QUERIES_FILE}")
    splits = assign_splits([(query_id, kind) for query_id, _, kind in queries])
    return [
        JudgedQuery(
            id=query_id, text=text, kind=kind, split=splits[query_id], grades=grades[query_id]
        )
        for query_id, text, kind in queries
    ]


def recall_at(ranked: Sequence[str], query: JudgedQuery, k: int) -> float:
    """Share of the relevant articles (grade 1 or 2) in the first ``k``; 0 with none."""
    relevant = query.relevant
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def ndcg_at(ranked: Sequence[str], query: JudgedQuery, k: int) -> float:
    """Normalized discounted cumulative gain of the first ``k`` with gain ``2**grade - 1``."""

    def dcg(grades: Sequence[int]) -> float:
        return sum(
            (2.0**grade - 1) / math.log2(position + 2) for position, grade in enumerate(grades)
        )

    ideal = dcg(sorted(query.grades.values(), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([query.grades.get(article, 0) for article in ranked[:k]]) / ideal


def word_overlap(query: JudgedQuery, documents: dict[str, str]) -> float:
    """Share of the query's content words (lower-cased, no stop words, no stemming) found
    in its articles' text, averaged over its grade-2 articles (grade 1 when it has none);
    ``documents`` maps article id to the text to look in (title, or title and text)."""
    asked = set(content_words(query.text))
    best = max(query.grades.values(), default=0)
    judged = [article for article, grade in query.grades.items() if grade == best and grade > 0]
    if not asked or not judged:
        return 0.0
    shares = [len(asked & set(words(documents[article]))) / len(asked) for article in judged]
    return sum(shares) / len(shares)


def judged_slice(
    articles: pl.DataFrame,
    queries: Sequence[JudgedQuery],
    *,
    queries_per_kind_and_half: int,
    other_articles: int,
) -> tuple[pl.DataFrame, list[JudgedQuery]]:
    """A few queries of each kind and half, every article judged for them and a slice of the
    rest: a corpus small enough for a smoke run, whose figures mean nothing."""
    chosen: list[JudgedQuery] = []
    for split in Split:
        for kind in QueryKind:
            same = [q for q in queries if q.split is split and q.kind is kind]
            chosen += same[:queries_per_kind_and_half]
    judged = list({article for query in chosen for article in query.grades})
    others = articles.filter(~pl.col("id").is_in(judged)).head(other_articles)
    return pl.concat([articles.filter(pl.col("id").is_in(judged)), others]), chosen
