"""Why: a chunk longer than the model's input limit is silently truncated, so what it says
past 256 word pieces would never be searchable. Measured with the model's real tokenizer."""

from __future__ import annotations

import itertools

import pytest

from prosora_pipelines.lib.index.chunking import chunk_article
from prosora_pipelines.lib.index.embedding import Embedder

SENTENCE = (
    "Supervisors expect lenders to document model lineage, monitor drift and explain adverse "
    "decisions to applicants in plain language before the deadline. "
)


def _tokens(embedder: Embedder, text: str) -> int:
    return len(embedder.tokenizer(text)["input_ids"])


def test_chunks_respect_the_token_limit_and_repeat_the_title(embedder: Embedder) -> None:
    title = "AI Act compliance calendar for lenders"
    body = SENTENCE * 60
    chunks = chunk_article("a1", title, body, embedder.tokenizer, max_tokens=256)
    assert len(chunks) > 3
    for chunk in chunks:
        assert _tokens(embedder, chunk.text) <= 256
        assert chunk.text.startswith(title + "\n\n")
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_neighbouring_chunks_overlap_and_cover_the_body(embedder: Embedder) -> None:
    words = [f"word{n}" for n in range(900)]
    chunks = chunk_article("a1", "T", " ".join(words), embedder.tokenizer, overlap_tokens=32)
    bodies = [c.text.split("\n\n", 1)[1].split() for c in chunks]
    for left, right in itertools.pairwise(bodies):
        assert right[0] in left, "no overlap between neighbours"
    covered = {word for body in bodies for word in body}
    assert covered == set(words)


def test_ids_are_stable_and_change_with_the_text(embedder: Embedder) -> None:
    body = SENTENCE * 30
    first = chunk_article("a1", "T", body, embedder.tokenizer)
    again = chunk_article("a1", "T", body, embedder.tokenizer)
    assert [c.id for c in first] == [c.id for c in again]
    edited = chunk_article("a1", "T", body + " One more sentence.", embedder.tokenizer)
    assert first[0].id == edited[0].id
    assert first[-1].id != edited[-1].id
    assert all(c.id.startswith("a1-") for c in first)


def test_short_article_is_one_chunk_and_empty_body_keeps_title(embedder: Embedder) -> None:
    (only,) = chunk_article("a1", "Title", "Short body.", embedder.tokenizer)
    assert only.text == "Title\n\nShort body."
    (title_only,) = chunk_article("a2", "Title", "", embedder.tokenizer)
    assert title_only.text == "Title"


def test_overlap_must_leave_progress(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_article("a1", "T", SENTENCE, embedder.tokenizer, max_tokens=64, overlap_tokens=40)
