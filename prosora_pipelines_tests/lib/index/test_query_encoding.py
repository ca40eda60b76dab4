"""Why: the API encodes one query per request from many threads at once; concurrent
callers are batched into shared forward passes, and each must still get its own vector. On a
CPU those passes run through an ONNX export of the transformer, whose vectors must be the
model's own for any length, or searches would drift from the index."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
