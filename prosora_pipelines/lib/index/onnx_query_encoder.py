"""Query texts encoded without torch: the model's transformer exported to ONNX, its own
tokenizer (the ``tokenizers`` library) and its pooling redone in NumPy.

Why: a command such as ``prosora query`` encodes a handful of short texts, yet importing
sentence-transformers (torch and transformers) and exporting the transformer took most of
its start-up. Exported once, the encoder is kept on disk in a folder keyed by the model's
version, and a new process loads it with onnxruntime, tokenizers and NumPy alone.

Why ONNX Runtime at all: run eagerly, a forward pass is a few hundred small operations, each
giving up Python's global interpreter lock and waiting to take it back; in the API, where
other threads run Python meanwhile, that waiting made one query's encoding several times
slower. ONNX Runtime runs the whole pass in one call without the lock.

An encoder is only ever used when it gives the model's own vectors: :meth:`export` checks it
against the eager model on probe texts (a long one too, so truncation is covered) and stores
those vectors; :meth:`load` checks them again, so a damaged folder is noticed and rebuilt.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

LAYOUT = 1
"""Version of the folder's layout; part of its name, so a new layout is a new folder."""
GRAPH_FILE = "transformer.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "encoder.json"
PROBE = (
    "ONNX and eager encodings must agree.",
    "  A second, longer probe, so that the batch is padded and the attention mask matters. ",
    "Ünïcödé — “quotes” and 2026's numbers: 4.5%",
    "regulation and stablecoin reserves " * 120,
)
LOAD_CHECK = 3
"""Probes :meth:`OnnxQueryEncoder.load` re-encodes: the short ones. Damage to the graph or
the tokenizer shows in any text; only the export needs the long one, to check truncation."""
TOLERANCE = 1e-5
FEEDABLE = ("input_ids", "attention_mask", "token_type_ids")
POOLINGS = ("mean", "cls")


class UnusableEncoderError(RuntimeError):
    """No encoder can be built or loaded from here; the message says why."""


def folder_name(model_id: str, version: str) -> str:
    """The cache folder of one model version, readable and safe as a file name."""
    readable = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(model_id).name)
    return f"{readable}-{version}-onnx{LAYOUT}"


def _checksum(data: bytes) -> int:
    """CRC-32: catches a file damaged on disk in a tenth of the time a SHA-256 takes (the
    folder is written by this code, so tampering is not the concern)."""
    return zlib.crc32(data)


class OnnxQueryEncoder:
    """A loaded encoder folder: unit-length float32 vectors for short texts, one thread."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        import onnxruntime
        from onnxruntime.capi.onnxruntime_pybind11_state import (
            Fail,
            InvalidGraph,
            InvalidProtobuf,
        )
        from tokenizers import Tokenizer

        self.dimension = int(meta["dimension"])
        self.max_tokens = int(meta["max_tokens"])
        self._pooling = str(meta["pooling"])
        self._inputs = [str(name) for name in meta["inputs"]]
        if self._pooling not in POOLINGS or not set(self._inputs) <= set(FEEDABLE):
            raise UnusableEncoderError(f"{folder}: unsupported pooling or inputs")
        graph = folder / GRAPH_FILE
        tokenizer = (folder / TOKENIZER_FILE).read_bytes()
        # A damaged weight may lie in a row no probe text reaches, and the tokenizers
        # library reports a damaged file only as a bare Exception: both files are checked
        # against their recorded checksums before they are used.
        checksums = [_checksum(graph.read_bytes()), _checksum(tokenizer)]
        if checksums != [meta["graph"], meta["tokenizer"]]:
            raise UnusableEncoderError(f"{folder}: files differ from those recorded")
        self._tokenizer = Tokenizer.from_str(tokenizer.decode("utf-8"))
        # One thread: the API batches concurrent texts into one pass per worker process, and
        # a second intra-op thread per worker only competes with the other workers.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            # From the path, which ONNX Runtime loads faster than the same bytes from Python.
            self._session = onnxruntime.InferenceSession(
                str(graph), options, providers=["CPUExecutionProvider"]
            )
        except (Fail, InvalidGraph, InvalidProtobuf) as error:
            raise UnusableEncoderError(f"{folder}: {error}") from None

    @classmethod
    def load(cls, folder: Path) -> OnnxQueryEncoder:
        """The encoder in ``folder``, checked against the probe vectors recorded with it;
        :class:`UnusableEncoderError` when it is missing or damaged."""
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            encoder = cls(folder, meta)
            expected = np.asarray(meta["probe"][:LOAD_CHECK], dtype=np.float32)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UnusableEncoderError(f"{folder}: {error}") from None
        got = encoder.encode(list(PROBE[:LOAD_CHECK]))
        if meta.get("layout") != LAYOUT or not _agrees(got, expected):
            raise UnusableEncoderError(f"{folder}: does not reproduce the recorded vectors")
        return encoder

    @classmethod
    def export(cls, model: Any, folder: Path) -> OnnxQueryEncoder:
        """Export the sentence-transformers ``model`` into ``folder`` (replacing what is
        there) and load it; :class:`UnusableEncoderError` when the model's modules are not
        a transformer and a mean or CLS pooling, or when the export does not give the
        model's vectors. The folder appears whole or not at all."""
        pooling = _pooling_of(model)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            expected = model.encode(
                list(PROBE),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            meta = _export_into(model, staging, pooling)
            meta["probe"] = np.asarray(expected, dtype=np.float32).tolist()
            (staging / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
            built = cls(staging, meta)
            if not _agrees(built.encode(list(PROBE)), expected):
                raise UnusableEncoderError("the ONNX transformer does not reproduce the model")
            shutil.rmtree(folder, ignore_errors=True)
            try:
                staging.rename(folder)
            except OSError:
                if not folder.is_dir():  # another process placing the same folder is fine
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return built

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit-length vectors, one row per text."""
        encodings = self._tokenizer.encode_batch(texts)
        features = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (tokens,) = self._session.run(
            ["token_embeddings"], {name: features[name] for name in self._inputs}
        )
        if self._pooling == "cls":
            pooled = tokens[:, 0]
        else:
            mask = features["attention_mask"][..., None].astype(tokens.dtype)
            pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)


def _agrees(got: npt.NDArray[np.float32], expected: npt.NDArray[np.float32]) -> bool:
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=TOLERANCE))


def _pooling_of(model: Any) -> str:
    """The pooling mode when the model is a transformer, a pooling and at most a
    normalization (what :meth:`OnnxQueryEncoder.encode` redoes); else the error."""
    modules = list(model)
    kinds = [type(module).__name__ for module in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise UnusableEncoderError(f"modules {kinds} are not a transformer and a pooling")
    mode = str(modules[1].get_config_dict().get("pooling_mode"))
    if mode not in POOLINGS:
        raise UnusableEncoderError(f"pooling {mode!r} is not one of {', '.join(POOLINGS)}")
    return mode


def _export_into(model: Any, folder: Path, pooling: str) -> dict[str, Any]:
    """Write the transformer's graph and the configured tokenizer into ``folder``; returns
    what loading them needs to know."""
    import torch
    from tokenizers import Tokenizer

    hf_tokenizer = model.tokenizer
    tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    max_tokens = int(model.max_seq_length)
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=hf_tokenizer.pad_token_id, pad_token=hf_tokenizer.pad_token)
    tokenizer.save(str(folder / TOKENIZER_FILE))

    features = model.preprocess(list(PROBE))
    names = [name for name, value in features.items() if torch.is_tensor(value)]
    if not set(names) <= set(FEEDABLE):
        raise UnusableEncoderError(f"the transformer takes {names}, not only {FEEDABLE}")
    transformer = model[0].model

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: Any) -> Any:
            return self.transformer(**dict(zip(names, tensors, strict=True)))[0]

    with torch.no_grad(), warnings.catch_warnings():
        # The exporter warns of shape tests it records and of its own deprecation; the
        # probe check shows whether the graph still gives the model's vectors.
        warnings.simplefilter("ignore")
        _export_graph(
            Positional().eval(),
            tuple(features[name] for name in names),
            folder / GRAPH_FILE,
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]},
        )
    return {
        "layout": LAYOUT,
        "dimension": int(model.get_embedding_dimension()),
        "max_tokens": max_tokens,
        "pooling": pooling,
        "inputs": names,
        "graph": _checksum((folder / GRAPH_FILE).read_bytes()),
        "tokenizer": _checksum((folder / TOKENIZER_FILE).read_bytes()),
    }


def _export_graph(module: Any, inputs: tuple[Any, ...], path: Path, **options: Any) -> None:
    """``torch.onnx.export`` with its refusals (an operator or a control flow it cannot
    express; the exporter raises them as RuntimeError, TypeError or ValueError) turned into
    :class:`UnusableEncoderError`."""
    import torch

    try:
        torch.onnx.export(module, inputs, path, opset_version=17, dynamo=False, **options)
    except (RuntimeError, TypeError, ValueError) as error:
        raise UnusableEncoderError(f"the transformer cannot be exported: {error}") from None
