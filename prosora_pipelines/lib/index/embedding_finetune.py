"""One fine-tuning round: pairs in, a judged candidate out, promoted only when it is better.

The ``embedding_finetune`` asset and the benchmark call :func:`finetune_embedding_model`; the
pieces it strings together are in :mod:`~prosora_pipelines.lib.index.finetuning` (pairs,
training, recall) and :mod:`~prosora_pipelines.lib.index.embedding_models` (where models live
and which one is used).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.lib.appdb.well_received_drafts import citations_of_well_received_drafts
from prosora_pipelines.lib.index.embedding import Embedder, resolve_model_path
from prosora_pipelines.lib.index.embedding_models import (
    FinetuneEvaluation,
    candidate_folder,
    judge,
    promote,
    write_evaluation,
)
from prosora_pipelines.lib.index.finetuning import (
    FinetuneConfig,
    TrainingPair,
    finetune,
    labelled_query_recall,
    query_evidence_pairs,
    recall_at_k,
    split_pairs,
    title_body_pairs,
)
from prosora_pipelines.lib.table_names import ARTICLES_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore

MIN_HELD_OUT_PAIRS = 10
"""Fewer held-out pairs than this cannot tell a better model from luck; the round is skipped."""


class NotEnoughPairsError(ValueError):
    """Too few pairs to train on and judge the result; the message says how many there are."""


@dataclass(frozen=True)
class FinetuneOutcome:
    """A judged candidate: its folder (kept whether promoted or not, for inspection) and the
    evaluation that decided."""

    folder: Path
    evaluation: FinetuneEvaluation


def finetune_embedding_model(
    home: Path,
    configured_model: str,
    current: Embedder,
    pairs: Sequence[TrainingPair],
    labelled: tuple[Sequence[tuple[str, frozenset[str]]], dict[str, str]],
    config: FinetuneConfig,
    *,
    load_candidate: Callable[[Path], Embedder],
    on_progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> FinetuneOutcome:
    """Train a copy of ``current`` (the model writers use now: the configured one or its
    promoted fine-tune) on most of ``pairs``, judge it against ``current`` on the rest and on
    the ``labelled`` queries, and promote it when :func:`judge` says so. Promotions are kept
    per ``configured_model``, so changing that setting starts from it again."""
    train, held_out = split_pairs(pairs)
    if len(held_out) < MIN_HELD_OUT_PAIRS or len(train) < 2:
        raise NotEnoughPairsError(
            f"{len(pairs)} training pairs give {len(held_out)} held out and {len(train)} to "
            f"train on; fine-tuning needs at least {MIN_HELD_OUT_PAIRS} held out"
        )
    folder = candidate_folder(home, current.info.version, now or datetime.now(UTC))
    folder.parent.mkdir(parents=True, exist_ok=True)
    run = finetune(
        resolve_model_path(current.info.model_id),
        train,
        folder,
        config,
        current.info.device,
        on_progress,
    )
    try:
        candidate = load_candidate(folder)
        queries, documents = labelled
        distractors = [pair.positive for pair in train]
        held_out_base = recall_at_k(current.encode, held_out, distractors)
        held_out_tuned = recall_at_k(candidate.encode, held_out, distractors)
        labelled_base = labelled_query_recall(current.encode, queries, documents)
        labelled_tuned = labelled_query_recall(candidate.encode, queries, documents)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    promoted, reason = judge(held_out_base, held_out_tuned, labelled_base, labelled_tuned)
    evaluation = FinetuneEvaluation(
        base_model=configured_model,
        base_version=current.info.version,
        train_pairs=len(train),
        held_out_pairs=len(held_out),
        held_out_recall_base=held_out_base,
        held_out_recall_tuned=held_out_tuned,
        labelled_recall_base=labelled_base,
        labelled_recall_tuned=labelled_tuned,
        promoted=promoted,
        reason=reason,
        device=run.device,
        precision=run.precision,
        steps=run.steps,
        seconds=run.seconds,
        pairs_per_second=run.pairs_per_second,
    )
    write_evaluation(folder, evaluation)
    if promoted:
        promote(home, folder)
    return FinetuneOutcome(folder=folder, evaluation=evaluation)


def gather_training_pairs(
    tables: TableStore, sessions: sessionmaker[Session]
) -> list[TrainingPair]:
    """Title ↔ body pairs of every canonical article, and query ↔ evidence pairs of the drafts
    that did better than their author's median. ``NotMaterializedError`` before the articles
    table exists."""
    frame = tables.read_table(ARTICLES_TABLE)
    if frame is None:
        raise NotMaterializedError("articles has not been materialized yet")
    canonical = frame.filter(pl.col("duplicate_of").is_null())
    texts = {
        row["id"]: (row["title"] or "", row["text"] or "")
        for row in canonical.select("id", "title", "text").iter_rows(named=True)
    }
    with sessions() as session:
        cited = citations_of_well_received_drafts(session)
    return title_body_pairs(texts.values()) + query_evidence_pairs(cited, texts)
