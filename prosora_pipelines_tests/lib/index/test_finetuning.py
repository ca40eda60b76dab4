"""Why: a fine-tuned embedding model replaces the one every search uses, so what it learns
from, what it is judged on and which model each reader and writer uses must be exactly as
documented: pairs that carry signal, a held-out split that never moves, a recall that means
what it says, and a promotion that readers follow only once the index is rebuilt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from prosora_pipelines.lib.index.embedding_models import (
    FinetuneEvaluation,
    candidate_folder,
    judge,
    model_for_readers,
    model_for_writers,
    promote,
    promoted_finetune,
    write_evaluation,
)
from prosora_pipelines.lib.index.finetuning import (
    BODY_CHARACTERS,
    TrainingPair,
    labelled_query_recall,
    query_evidence_pairs,
    recall_at_k,
    split_pairs,
    title_body_pairs,
)

BODY = "Regulators in three countries published rules for stablecoin reserves this week. " * 3


def test_title_body_pairs_skip_thin_articles_and_drop_a_repeated_title() -> None:
    pairs = title_body_pairs(
        [
            ("Stablecoin reserve rules", "Stablecoin reserve rules. " + BODY),
            ("Short", BODY),
            ("A title with too little body", "Two words."),
            ("A long body is cut at a word", "word " * 400),
        ]
    )
    assert [pair.anchor for pair in pairs] == [
        "Stablecoin reserve rules",
        "A long body is cut at a word",
    ]
    assert pairs[0].positive.startswith("Regulators in three countries")
    assert len(pairs[1].positive) <= BODY_CHARACTERS and pairs[1].positive.endswith("word")
    assert {pair.origin for pair in pairs} == {"title_body"}


def test_query_evidence_pairs_count_each_pair_once_and_pass_over_gone_articles() -> None:
    texts = {"a1": ("Reserve rules", BODY)}
    pairs = query_evidence_pairs(
        [("stablecoin rules", "a1", "u1"), ("stablecoin rules", "a1", "u2"), ("x", "gone", "u1")],
        texts,
    )
    assert [(pair.anchor, pair.origin) for pair in pairs] == [
        ("stablecoin rules", "query_evidence")
    ]
    assert pairs[0].positive.startswith("Reserve rules. Regulators")


def test_the_held_out_split_depends_on_the_pair_not_the_order() -> None:
    pairs = [TrainingPair(f"title {n}", f"body {n}", "title_body") for n in range(200)]
    train, held_out = split_pairs(pairs)
    shuffled_train, shuffled_held_out = split_pairs(list(reversed(pairs)))
    assert set(held_out) == set(shuffled_held_out) and set(train) == set(shuffled_train)
    assert 20 <= len(held_out) <= 60  # two buckets of ten
    assert not set(train) & set(held_out)


def _lookup(vectors: dict[str, Sequence[float]]) -> object:
    def encode(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = np.array([vectors[text] for text in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return encode


def test_recall_counts_an_anchor_found_when_its_positive_is_among_the_k_nearest() -> None:
    encode = _lookup(
        {
            "q1": [1, 0, 0],
            "p1": [0.9, 0.1, 0],
            "q2": [0, 1, 0],
            "p2": [0, 0, 1],  # far from q2
            "d1": [0.1, 1, 0],  # a distractor nearer to q2 than p2
        }
    )
    pairs = [TrainingPair("q1", "p1", "title_body"), TrainingPair("q2", "p2", "title_body")]
    assert recall_at_k(encode, pairs, k=1) == 0.5  # type: ignore[arg-type]
    assert recall_at_k(encode, pairs, k=2) == 1.0  # type: ignore[arg-type]
    assert recall_at_k(encode, pairs, ["d1"], k=2) == 0.5  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        recall_at_k(encode, [])  # type: ignore[arg-type]


def test_labelled_recall_is_the_mean_share_of_relevant_documents_found() -> None:
    encode = _lookup({"q": [1, 0], "a": [1, 0.1], "b": [0, 1], "c": [0.9, 0.3]})
    documents = {"A": "a", "B": "b", "C": "c"}
    assert labelled_query_recall(encode, [("q", frozenset({"A", "B"}))], documents, k=2) == 0.5  # type: ignore[arg-type]


def test_a_candidate_is_promoted_only_when_it_finds_more_without_forgetting() -> None:
    assert judge(0.80, 0.85, 0.90, 0.90)[0]
    assert judge(0.80, 0.85, 0.90, 0.895)[0]  # one article's worth of noise
    assert not judge(0.80, 0.80, 0.90, 0.95)[0]
    promoted, reason = judge(0.80, 0.90, 0.90, 0.88)
    assert not promoted and "labelled queries fell" in reason


def _candidate(home: Path, base_model: str, promoted: bool) -> Path:
    folder = candidate_folder(home, "abc123", datetime.now(UTC))
    folder.mkdir(parents=True)
    write_evaluation(
        folder,
        FinetuneEvaluation(
            base_model=base_model,
            base_version="abc123",
            train_pairs=80,
            held_out_pairs=20,
            held_out_recall_base=0.8,
            held_out_recall_tuned=0.9 if promoted else 0.7,
            labelled_recall_base=0.9,
            labelled_recall_tuned=0.9,
            promoted=promoted,
            reason="test",
            device="cpu",
            precision="fp32",
            steps=3,
            seconds=1.0,
            pairs_per_second=96.0,
        ),
    )
    return folder


def test_writers_use_the_promoted_fine_tune_and_readers_follow_the_index(tmp_path: Path) -> None:
    base = "all-MiniLM-L6-v2"
    assert model_for_writers(tmp_path, base) == base
    rejected = _candidate(tmp_path, base, promoted=False)
    with pytest.raises(ValueError, match="allows promoting"):
        promote(tmp_path, rejected)
    tuned = _candidate(tmp_path, base, promoted=True)
    promote(tmp_path, tuned)

    assert promoted_finetune(tmp_path, base) == tuned
    assert model_for_writers(tmp_path, base) == str(tuned)
    # Until the index is rebuilt with the fine-tune, readers keep the model of its table.
    assert model_for_readers(tmp_path, base, indexed_model=base) == base
    assert model_for_readers(tmp_path, base, indexed_model=str(tuned)) == str(tuned)
    # A fine-tune of another base, or a folder outside the registry, is never followed.
    assert promoted_finetune(tmp_path, "/models/other") is None
    assert model_for_readers(tmp_path, "/models/other", indexed_model=str(tuned)) == "/models/other"
    assert model_for_readers(tmp_path, base, indexed_model=str(tmp_path)) == base
    assert json.loads((tuned / "evaluation.json").read_text())["promoted"] is True
