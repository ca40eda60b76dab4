"""Keep the article index in step with the articles, encoding only what changed.

Chunk ids carry a hash of their text, so comparing the ids the articles produce now with
the ids stored tells what to encode (new or changed text) and what to delete (removed
articles, or old versions of changed ones). Work is streamed in batches: each batch is
encoded and written before the next, so memory stays flat as the corpus grows, and a run
that dies half-way keeps what it wrote; the re-run encodes only the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from prosora_pipelines.lib.index.chunking import chunk_article
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.vector_store import (
    ArticleIndex,
    IndexManifest,
    chunk_rows,
    delete_chunks,
    refresh_indexes,
    stored_chunk_ids,
    table_name_for,
    upsert_chunks,
)

CHUNK_OVERLAP_TOKENS = 32


@dataclass(frozen=True)
class IndexingReport:
    articles: int
    chunks: int
    encoded: int
    deleted: int
    encode_seconds: float
    write_seconds: float
    coverage: dict[str, Any]
    manifest: IndexManifest


def article_chunks(articles: pl.DataFrame, embedder: Embedder) -> list[dict[str, Any]]:
    """Chunk rows (without vectors) for every article in the frame."""
    rows: list[dict[str, Any]] = []
    for article in articles.iter_rows(named=True):
        for chunk in chunk_article(
            article["id"],
            article["title"],
            article["text"],
            embedder.tokenizer,
            max_tokens=embedder.info.max_tokens,
            overlap_tokens=CHUNK_OVERLAP_TOKENS,
        ):
            rows.append(
                {
                    "chunk_id": chunk.id,
                    "article_id": chunk.article_id,
                    "position": chunk.position,
                    "text": chunk.text,
                    "content_hash": chunk.content_hash,
                    "title": article["title"],
                    "url": article["canonical_url"] or article["url"],
                    "source_id": article["source_id"],
                    "tier": article["tier"],
                    "credibility": article["credibility"],
                    "domains": list(article["domains"] or []),
                    "published_at": article["published_at"],
                }
            )
    return rows


def encode_chunks_and_titles(
    rows: Sequence[dict[str, Any]], embedder: Embedder, batch_size: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Each chunk row's vector and its article's title vector, from one call to the model;
    every distinct title is encoded once."""
    titles = list(dict.fromkeys(row["title"] for row in rows))
    encoded = embedder.encode([row["text"] for row in rows] + titles, batch_size=batch_size)
    title_vector = dict(zip(titles, encoded[len(rows) :], strict=True))
    title_vectors = np.stack([title_vector[row["title"]] for row in rows]).astype(np.float32)
    return encoded[: len(rows)], title_vectors


def _batches(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def index_articles(
    articles: pl.DataFrame,
    embedder: Embedder,
    index: ArticleIndex,
    *,
    batch_size: int = 64,
    write_every: int = 256,
    on_progress: Callable[[int, int], None] | None = None,
) -> IndexingReport:
    """Bring the model's chunk table in line with ``articles``; returns what was done."""
    model = embedder.info
    table = index.open_or_create(table_name_for(model), model.dimension)
    chunks = article_chunks(articles, embedder)
    current = {row["chunk_id"] for row in chunks}
    stored = stored_chunk_ids(table)
    todo = [row for row in chunks if row["chunk_id"] not in stored]
    encode_seconds = write_seconds = 0.0
    done = 0
    for batch in _batches(todo, write_every):
        started = time.perf_counter()
        vectors, title_vectors = encode_chunks_and_titles(batch, embedder, batch_size)
        encoded_at = time.perf_counter()
        upsert_chunks(table, chunk_rows(batch, vectors, title_vectors, model))
        encode_seconds += encoded_at - started
        write_seconds += time.perf_counter() - encoded_at
        done += len(batch)
        if on_progress is not None:
            on_progress(done, len(todo))
    deleted = delete_chunks(table, stored - current)
    started = time.perf_counter()
    coverage = refresh_indexes(table)
    write_seconds += time.perf_counter() - started
    manifest = IndexManifest(
        table=table_name_for(model),
        model_id=model.model_id,
        model_version=model.version,
        dimension=model.dimension,
        updated_at=datetime.now(UTC),
    )
    return IndexingReport(
        articles=articles.height,
        chunks=len(chunks),
        encoded=len(todo),
        deleted=deleted,
        encode_seconds=encode_seconds,
        write_seconds=write_seconds,
        coverage=coverage,
        manifest=manifest,
    )
