"""Why: re-embedding the corpus on every run would waste hours on a real catalog, and a
crashed run must not leave duplicates or gaps. Proves the index encodes only what changed,
deletes what is gone, survives a crash mid-way and keeps two models' vectors apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from prosora_pipelines.lib.index.article_embedding import article_chunks, index_articles
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.vector_store import ArticleIndex, stored_chunk_ids


@pytest.fixture
def few_articles(sample_index: tuple[pl.DataFrame, Any]) -> pl.DataFrame:
    frame, _ = sample_index
    return frame.sort("id").head(6)


class CrashingEmbedder:
    """The real model, but the process 'dies' after ``batches`` writes."""

    def __init__(self, real: Embedder, batches: int) -> None:
        self._real = real
        self.info = real.info
        self.tokenizer = real.tokenizer
        self._left = batches

    def encode(self, texts: list[str], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
        if self._left == 0:
            raise RuntimeError("worker killed")
        self._left -= 1
        return self._real.encode(texts, batch_size=batch_size)


class OtherModel(CrashingEmbedder):
    """The same weights presented as another model version, to exercise table switching."""

    def __init__(self, real: Embedder) -> None:
        super().__init__(real, batches=10**6)
        self.info = replace(real.info, version="other0000000")


def _rows(index: ArticleIndex, table: str) -> pl.DataFrame:
    opened = index.open(table)
    arrow = opened.search().select(["chunk_id", "article_id"]).limit(opened.count_rows()).to_arrow()
    return pl.from_arrow(arrow)  # type: ignore[return-value]


def test_second_run_encodes_nothing_and_edits_reencode_only_their_chunks(
    few_articles: pl.DataFrame, embedder: Embedder, tmp_path: Path
) -> None:
    index = ArticleIndex(tmp_path / "lancedb")
    first = index_articles(few_articles, embedder, index)
    assert first.encoded == first.chunks > len(few_articles)
    assert first.coverage["FTS"]["unindexed"] == 0
    again = index_articles(few_articles, embedder, index)
    assert (again.encoded, again.deleted) == (0, 0)

    edited_id = few_articles["id"][0]
    edited = few_articles.with_columns(
        pl.when(pl.col("id") == edited_id)
        .then(pl.col("text") + " A correction was appended to this article.")
        .otherwise(pl.col("text"))
        .alias("text")
    )
    before = {c["chunk_id"] for c in article_chunks(few_articles, embedder)}
    after = {c["chunk_id"] for c in article_chunks(edited, embedder)}
    changed = after - before
    assert changed and all(chunk.startswith(edited_id) for chunk in changed)
    third = index_articles(edited, embedder, index)
    assert third.encoded == len(changed)
    assert third.deleted == len(before - after)
    assert stored_chunk_ids(index.open(third.manifest.table)) == after
    assert third.coverage["FTS"]["unindexed"] == 0

    removed = edited.filter(pl.col("id") != edited_id)
    fourth = index_articles(removed, embedder, index)
    assert fourth.encoded == 0
    rows = _rows(index, fourth.manifest.table)
    assert edited_id not in set(rows["article_id"])


def test_crash_mid_embedding_then_rerun_leaves_one_row_per_chunk(
    few_articles: pl.DataFrame, embedder: Embedder, tmp_path: Path
) -> None:
    index = ArticleIndex(tmp_path / "lancedb")
    expected = {c["chunk_id"] for c in article_chunks(few_articles, embedder)}
    crashing = CrashingEmbedder(embedder, batches=2)
    with pytest.raises(RuntimeError, match="worker killed"):
        index_articles(few_articles, crashing, index, write_every=3)  # type: ignore[arg-type]
    table_name = next(iter(index.table_names()))
    partial = _rows(index, table_name)
    assert partial.height == 6
    rerun = index_articles(few_articles, embedder, index, write_every=3)
    assert rerun.encoded == len(expected) - 6
    rows = _rows(index, rerun.manifest.table)
    assert rows.height == rows["chunk_id"].n_unique() == len(expected)
    assert set(rows["chunk_id"]) == expected


def test_a_new_model_fills_its_own_table_and_leaves_the_old_one(
    few_articles: pl.DataFrame, embedder: Embedder, tmp_path: Path
) -> None:
    index = ArticleIndex(tmp_path / "lancedb")
    old = index_articles(few_articles, embedder, index)
    new = index_articles(few_articles, OtherModel(embedder), index)  # type: ignore[arg-type]
    assert new.manifest.table != old.manifest.table
    assert new.encoded == new.chunks == old.chunks
    assert index.open(old.manifest.table).count_rows() == old.chunks
    versions = index.open(new.manifest.table).search().select(["model_version"]).limit(100)
    assert set(versions.to_arrow().column("model_version").to_pylist()) == {"other0000000"}
