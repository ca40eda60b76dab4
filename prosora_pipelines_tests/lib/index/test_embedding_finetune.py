"""Why: a fine-tuned embedding model replaces the one every search uses. A short CPU run on
real publishers' title ↔ body pairs must be judged on pairs it never saw and promoted only
when it finds more of them; a run on scrambled pairs must not be promoted; and once one is
promoted, the index fills a table for it while readers keep the old table until the new one
is complete, leaving exactly one table per model version."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.articles.building import build_articles
from prosora_pipelines.lib.index.embedding import DEFAULT_MODEL, Embedder
from prosora_pipelines.lib.index.embedding_finetune import (
    NotEnoughPairsError,
    finetune_embedding_model,
)
from prosora_pipelines.lib.index.embedding_models import (
    model_for_readers,
    model_for_writers,
    promoted_finetune,
)
from prosora_pipelines.lib.index.finetuning import FinetuneConfig, TrainingPair, title_body_pairs
from prosora_pipelines.lib.index.store import refresh_article_index
from prosora_pipelines.lib.index.vector_store import ArticleIndex, read_manifest
from prosora_pipelines.lib.sample_corpus import sample_retrieval_set
from prosora_pipelines.lib.sources.catalog import Source, SourceKind, Tier
from prosora_pipelines.lib.sources.feed_parsing import FeedRejectedError, parse_feed
from prosora_pipelines.lib.table_names import ARTICLES_TABLE
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines_tests.lib.index.test_article_embedding import CrashingEmbedder
from prosora_pipelines_tests.support.shared_data import require_shared

pytestmark = pytest.mark.integration

PAIRS = 800
"""About 650 to train on and 130 held out: a run of a few minutes on two CPU cores."""
SHORT_RUN = FinetuneConfig(batch_size=32, max_steps=20, learning_rate=1e-4, max_tokens=64)


def _real_title_body_pairs() -> list[TrainingPair]:
    folder = require_shared("feeds/real")
    source = Source(
        id="real",
        name="Real feeds",
        url="https://feeds.example.org/feed.xml",
        kind=SourceKind.RSS,
        tier=Tier.STANDARD,
        credibility=0.7,
        domains=("tech",),
    )
    articles = []
    for path in sorted(folder.glob("*.xml")):
        try:
            parsed = parse_feed(
                path.read_bytes(),
                source_id=source.id,
                url=source.url,
                fetched_at=datetime(2026, 11, 22, tzinfo=UTC),
                allowed_skew=timedelta(hours=2),
            )
        except FeedRejectedError:
            continue
        built = build_articles(
            parsed.entries, {source.id: source}, earliest_published=date(1990, 1, 1)
        )
        articles.extend(built.articles)
    return title_body_pairs((article.title, article.text) for article in articles)


@pytest.fixture(scope="module")
def real_pairs() -> list[TrainingPair]:
    return _real_title_body_pairs()[:PAIRS]


@pytest.fixture(scope="module")
def labelled() -> tuple[list[tuple[str, frozenset[str]]], dict[str, str]]:
    return sample_retrieval_set()


def _load(folder: Path) -> Embedder:
    return Embedder(str(folder), device="cpu")


def test_a_short_run_on_real_pairs_is_promoted_and_the_index_follows_it_only_when_complete(
    tmp_path: Path,
    real_pairs: list[TrainingPair],
    labelled: tuple[list[tuple[str, frozenset[str]]], dict[str, str]],
    embedder: Embedder,
    sample_frame: pl.DataFrame,
) -> None:
    tables = TableStore(tmp_path)
    tables.write_table(ARTICLES_TABLE, sample_frame)
    index = ArticleIndex(tmp_path / "lancedb")
    base_refresh = refresh_article_index(
        tables, index, load_embedder=lambda: embedder, batch_size=32
    )

    outcome = finetune_embedding_model(
        tmp_path, DEFAULT_MODEL, embedder, real_pairs, labelled, SHORT_RUN, load_candidate=_load
    )

    evaluation = outcome.evaluation
    print(
        f"\nheld-out recall@10 {evaluation.held_out_recall_base:.3f} -> "
        f"{evaluation.held_out_recall_tuned:.3f} on {evaluation.held_out_pairs} pairs; labelled "
        f"{evaluation.labelled_recall_base:.3f} -> {evaluation.labelled_recall_tuned:.3f}"
    )
    assert evaluation.held_out_recall_tuned > evaluation.held_out_recall_base
    assert evaluation.promoted, evaluation.reason
    assert promoted_finetune(tmp_path, DEFAULT_MODEL) == outcome.folder
    writers_model = model_for_writers(tmp_path, DEFAULT_MODEL)
    assert writers_model == str(outcome.folder)

    tuned = _load(outcome.folder)
    with pytest.raises(RuntimeError, match="worker killed"):
        refresh_article_index(
            tables,
            index,
            load_embedder=lambda: CrashingEmbedder(tuned, batches=0),
            batch_size=8,  # type: ignore[arg-type,return-value]
        )
    manifest = read_manifest(tables)
    # The new model's table was opened but the run died: readers stay on the complete old one.
    assert manifest == base_refresh.report.manifest
    assert (
        model_for_readers(tmp_path, DEFAULT_MODEL, manifest.model_id if manifest else None)
        == DEFAULT_MODEL
    )

    rebuilt = refresh_article_index(tables, index, load_embedder=lambda: tuned, batch_size=32)
    manifest = read_manifest(tables)
    assert manifest is not None and manifest.table == rebuilt.report.manifest.table
    assert manifest.model_version == tuned.info.version != embedder.info.version
    assert sorted(index.table_names()) == sorted(
        {base_refresh.report.manifest.table, rebuilt.report.manifest.table}
    )
    assert rebuilt.table.count_rows() == rebuilt.report.chunks
    assert model_for_readers(tmp_path, DEFAULT_MODEL, manifest.model_id) == writers_model


def test_a_run_on_scrambled_pairs_is_judged_worse_and_not_promoted(
    tmp_path: Path,
    real_pairs: list[TrainingPair],
    labelled: tuple[list[tuple[str, frozenset[str]]], dict[str, str]],
    embedder: Embedder,
) -> None:
    # Each title paired with the body of an article from the other end of the corpus (another
    # publisher, another subject): nothing true to learn.
    scrambled = [
        TrainingPair(pair.anchor, real_pairs[-1 - n].positive, pair.origin)
        for n, pair in enumerate(real_pairs)
    ]
    outcome = finetune_embedding_model(
        tmp_path,
        DEFAULT_MODEL,
        embedder,
        scrambled,
        labelled,
        FinetuneConfig(batch_size=32, max_steps=5, learning_rate=5e-4),
        load_candidate=_load,
    )

    evaluation = outcome.evaluation
    print(
        f"\nscrambled: held-out {evaluation.held_out_recall_base:.3f} -> "
        f"{evaluation.held_out_recall_tuned:.3f}; {evaluation.reason}"
    )
    assert not evaluation.promoted
    assert outcome.folder.is_dir()  # kept for inspection, never used
    assert promoted_finetune(tmp_path, DEFAULT_MODEL) is None
    assert model_for_writers(tmp_path, DEFAULT_MODEL) == DEFAULT_MODEL


def test_too_few_pairs_to_judge_stops_before_training(
    tmp_path: Path,
    labelled: tuple[list[tuple[str, frozenset[str]]], dict[str, str]],
    embedder: Embedder,
) -> None:
    few = [TrainingPair(f"title {n}", f"body {n}", "title_body") for n in range(12)]
    with pytest.raises(NotEnoughPairsError, match="needs at least 10 held out"):
        finetune_embedding_model(
            tmp_path, DEFAULT_MODEL, embedder, few, labelled, SHORT_RUN, load_candidate=_load
        )
    assert not (tmp_path / "models").exists()
