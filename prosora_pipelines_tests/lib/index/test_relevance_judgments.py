"""Why: search weights are chosen on one half of the hand-graded real-feed queries and
reported on the other; the loader, the split and the measures decide every figure the
README shows, and the judgments must keep pointing at articles the corpus really holds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prosora_pipelines.lib.index.feed_folder_corpus import feed_folder_articles
from prosora_pipelines.lib.index.relevance_judgments import (
    JudgedQuery,
    JudgmentsError,
    QueryKind,
    Split,
    assign_splits,
    load_judged_queries,
    ndcg_at,
    recall_at,
)
from prosora_pipelines_tests.support.shared_data import require_shared

DATA = Path(__file__).resolve().parents[2] / "data" / "relevance"


def _query(grades: dict[str, int]) -> JudgedQuery:
    return JudgedQuery(id="q", text="q", kind=QueryKind.DIRECT, split=Split.TUNING, grades=grades)


def test_ndcg_uses_graded_gains_and_the_ideal_order() -> None:
    query = _query({"a": 2, "b": 1, "c": 0})
    assert ndcg_at(["a", "b", "x"], query, 10) == 1.0
    swapped = (1 / 1 + 3 / math.log2(3)) / (3 / 1 + 1 / math.log2(3))
    assert ndcg_at(["b", "a"], query, 10) == pytest.approx(swapped)
    assert ndcg_at(["x", "c"], query, 10) == 0.0
    assert ndcg_at(["a"], _query({"a": 0}), 10) == 0.0


def test_recall_counts_grade_one_and_two_within_the_cutoff() -> None:
    query = _query({"a": 2, "b": 1, "c": 0})
    assert recall_at(["c", "a", "x", "b"], query, 2) == 0.5
    assert recall_at(["b", "a"], query, 10) == 1.0


def test_split_alternates_within_each_kind_and_ignores_file_order() -> None:
    ids = [(f"q{n:02d}", QueryKind.DIRECT if n < 10 else QueryKind.PARAPHRASED) for n in range(16)]
    splits = assign_splits(ids)
    assert splits == assign_splits(list(reversed(ids)))
    for kind in QueryKind:
        halves = [splits[q] for q, k in ids if k is kind]
        assert abs(halves.count(Split.TUNING) - halves.count(Split.REPORTING)) <= 1


def test_malformed_judgments_are_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "queries.json").write_text(
        json.dumps([{"id": "q1", "text": "t", "kind": "direct"}])
    )
    (tmp_path / "judgments.json").write_text(
        json.dumps([{"query": "q1", "article_id": "a", "grade": 3}])
    )
    with pytest.raises(JudgmentsError, match="grade 3"):
        load_judged_queries(tmp_path)
    (tmp_path / "judgments.json").write_text(
        json.dumps([{"query": "q9", "article_id": "a", "grade": 1}])
    )
    with pytest.raises(JudgmentsError, match="unknown query"):
        load_judged_queries(tmp_path)
    (tmp_path / "judgments.json").write_text("[")
    with pytest.raises(JudgmentsError, match="not valid JSON"):
        load_judged_queries(tmp_path)


def test_the_labelled_set_is_large_enough_and_split_in_halves() -> None:
    queries = load_judged_queries(DATA)
    assert len(queries) >= 60
    paraphrased = [q for q in queries if q.kind is QueryKind.PARAPHRASED]
    assert len(paraphrased) * 3 >= len(queries)
    assert all(q.relevant for q in queries), [q.id for q in queries if not q.relevant]
    reporting = [q for q in queries if q.split is Split.REPORTING]
    assert abs(2 * len(reporting) - len(queries)) <= 2


def test_judged_articles_are_articles_of_the_real_feeds() -> None:
    articles = feed_folder_articles(require_shared("feeds/real"))
    ids = set(articles["id"].to_list())
    judged = {article for query in load_judged_queries(DATA) for article in query.grades}
    assert judged <= ids, sorted(judged - ids)[:5]
