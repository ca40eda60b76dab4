"""Why: the API encodes one query per request from many threads at once; concurrent
callers are batched into shared forward passes, and each must still get its own vector. On a
CPU those passes run through an ONNX export of the transformer, whose vectors must be the
model's own for any length, or searches would drift from the index."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from prosora_pipelines.lib.index.embedding import Embedder

TEXTS = [f"query number {n} about stablecoin reserves and rate cuts" for n in range(40)]


def test_concurrent_queries_each_get_their_own_vector(embedder: Embedder) -> None:
    expected = embedder.encode(TEXTS)
    with ThreadPoolExecutor(max_workers=16) as pool:
        vectors = list(pool.map(embedder.encode_query, TEXTS))
    for want, got in zip(expected, vectors, strict=True):
        assert np.allclose(want, got, atol=1e-5)


def test_a_failing_batch_raises_and_the_next_query_still_works(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.encode_query(None)  # type: ignore[arg-type]
    assert embedder.encode_query("still works").shape == (embedder.info.dimension,)


def test_query_texts_take_the_onnx_road_and_get_the_models_vectors(embedder: Embedder) -> None:
    texts = ["AI", "Stablecoin reserve rules in 2026?", "regulation " * 400, "ünïcödé — quotes"]
    expected = embedder.encode(texts)
    got = [embedder.encode_query(text) for text in texts]
    assert embedder.query_road == ("onnx" if embedder.info.device == "cpu" else "eager")
    for want, vector in zip(expected, got, strict=True):
        assert np.allclose(want, vector, atol=1e-5)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_a_batch_of_texts_comes_back_in_order_with_each_distinct_text_encoded_once_only(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Evidence repeats sentences (one story from several sources, and the same articles for
    the next question) and mixes lengths; the query road encodes each distinct text once,
    keeps recent ones, and answers in order."""
    texts = [
        "A long sentence about the reserve rules that stablecoin issuers must now publish.",
        "Rate cuts.",
        "A long sentence about the reserve rules that stablecoin issuers must now publish.",
        "Neobanks that failed spent too much on acquiring customers.",
        "Rate cuts.",
    ]
    encoded: list[str] = []
    # The model behind the query road: the ONNX export on a CPU, else the eager model.
    target: Any = embedder._onnx if embedder.query_road == "onnx" else embedder
    original = target.encode

    def counting(batch: list[str], **options: int) -> Any:
        encoded.extend(batch)
        return original(batch, **options)

    monkeypatch.setattr(target, "encode", counting)
    vectors = embedder.encode_queries(texts)
    assert sorted(encoded) == sorted(set(texts))
    encoded.clear()
    again = embedder.encode_queries(texts[::-1])
    assert encoded == []
    assert np.array_equal(again, vectors[::-1])
    monkeypatch.undo()
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(embedder.encode([text])[0], vector, atol=1e-5)
