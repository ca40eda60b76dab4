"""Why: a cold ``prosora query`` spent most of its seconds importing torch and exporting the
transformer to ONNX. The export is now kept under PROSORA_HOME, keyed by the model version,
and a process that finds it encodes queries without importing torch at all; a damaged copy
must be noticed and rebuilt, never trusted, and a half-written one never seen."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prosora_pipelines.lib.index.embedding import MODEL_CACHE, Embedder
from prosora_pipelines.lib.index.onnx_query_encoder import (
    GRAPH_FILE,
    META_FILE,
    TOKENIZER_FILE,
    OnnxQueryEncoder,
    UnusableEncoderError,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TEXTS = ["stablecoin reserve rules", "AI regulation impact on fintech product strategy"]
IN_A_NEW_PROCESS = """
import json, sys
from pathlib import Path
from prosora_pipelines.lib.index.embedding import Embedder
embedder = Embedder(home=Path(sys.argv[1]), device="cpu")
vectors = [embedder.encode_query(text).tolist() for text in json.loads(sys.argv[2])]
heavy = sorted({"torch", "transformers", "sentence_transformers"} & set(sys.modules))
print(json.dumps({"road": embedder.query_road, "heavy": heavy, "vectors": vectors}))
"""


@pytest.fixture(scope="module")
def cached_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose query encoder was exported by a first process."""
    home = tmp_path_factory.mktemp("encoder-home")
    first = Embedder(home=home, device="cpu")
    first.encode_query("export now")
    return home


def _encoder_folder(home: Path) -> Path:
    (folder,) = (home / MODEL_CACHE).iterdir()
    return folder


def _run_new_process(home: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", IN_A_NEW_PROCESS, str(home), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_export_is_kept_whole_under_the_home_keyed_by_model_version(
    cached_home: Path, embedder: Embedder
) -> None:
    folder = _encoder_folder(cached_home)
    assert embedder.info.version in folder.name
    assert {p.name for p in folder.iterdir()} == {GRAPH_FILE, TOKENIZER_FILE, META_FILE}
    assert not [p for p in (cached_home / MODEL_CACHE).iterdir() if p.name.startswith(".")]


def test_a_new_process_encodes_queries_from_the_cache_without_torch(
    cached_home: Path, embedder: Embedder
) -> None:
    result = _run_new_process(cached_home)
    assert result["road"] == "onnx"
    assert result["heavy"] == []
    assert np.allclose(np.asarray(result["vectors"]), embedder.encode(TEXTS), atol=1e-5)


def _damaged_copy(cached_home: Path, home: Path, damage: str) -> Path:
    source = _encoder_folder(cached_home)
    folder = home / MODEL_CACHE / source.name
    folder.mkdir(parents=True)
    for file in source.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    graph = folder / GRAPH_FILE
    if damage == "truncated graph":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "changed weights":
        data = bytearray(graph.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 4096] = bytes(4096)
        graph.write_bytes(bytes(data))
    elif damage == "bad tokenizer":
        (folder / TOKENIZER_FILE).write_text('{"version": ', encoding="utf-8")
    else:
        (folder / META_FILE).write_text("{", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "damage", ["truncated graph", "changed weights", "bad tokenizer", "bad record"]
)
def test_a_damaged_cache_is_refused(cached_home: Path, tmp_path: Path, damage: str) -> None:
    folder = _damaged_copy(cached_home, tmp_path, damage)
    with pytest.raises(UnusableEncoderError):
        OnnxQueryEncoder.load(folder)


def test_a_damaged_cache_is_rebuilt_not_trusted(
    cached_home: Path, embedder: Embedder, tmp_path: Path
) -> None:
    folder = _damaged_copy(cached_home, tmp_path, "changed weights")

    rebuilt = Embedder(home=tmp_path, device="cpu")
    vectors = np.stack([rebuilt.encode_query(text) for text in TEXTS])

    assert rebuilt.query_road == "onnx"
    assert np.allclose(vectors, embedder.encode(TEXTS), atol=1e-5)
    assert np.allclose(OnnxQueryEncoder.load(folder).encode(TEXTS), vectors, atol=1e-5)


def test_loading_and_exporting_print_no_progress_bars(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The API logs at INFO, the level at which sentence-transformers shows a "Batches" bar
    # unless told not to; the model load showed a "Loading weights" bar at any level.
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        Embedder(home=tmp_path, device="cpu").encode_query("warm-up")
    finally:
        root.setLevel(previous)
    captured = capfd.readouterr()
    for bar in ("Batches", "Loading weights", "it/s]"):
        assert bar not in captured.out + captured.err
