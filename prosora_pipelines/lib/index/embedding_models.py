"""Which embedding model writes the index and which one reads it, once fine-tuned models exist.

Fine-tuned models are kept under ``PROSORA_HOME/models/embedding-finetunes/<name>/``, each a
sentence-transformers folder with the ``evaluation.json`` that judged it. ``promoted.json``
names the one to use, for the base model it was trained from; a deployment that changes its
configured base model therefore falls back to that model until a fine-tune of it is promoted.

Writers (the ``article_index`` asset, trends) embed with the promoted model, so the next index
run fills that model's own table and switches the index manifest when the table is complete.
Readers (queries, search) embed with the model that built the table the manifest names, so
between a promotion and the end of that index run they keep reading the old table with the old
model, and never see a half-filled one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prosora_pipelines.lib.table_store import TableStore

FINETUNES_FOLDER = Path("models") / "embedding-finetunes"
PROMOTED_FILE = "promoted.json"
EVALUATION_FILE = "evaluation.json"


@dataclass(frozen=True)
class FinetuneEvaluation:
    """How a fine-tuned model compared with its base on data it was not trained on, and the
    verdict. ``labelled_recall_*`` are on the bundled sample's labelled queries, a guard
    against a model that learns the user's pairs by forgetting general retrieval."""

    base_model: str
    base_version: str
    train_pairs: int
    held_out_pairs: int
    held_out_recall_base: float
    held_out_recall_tuned: float
    labelled_recall_base: float
    labelled_recall_tuned: float
    promoted: bool
    reason: str
    device: str
    precision: str
    steps: int
    seconds: float
    pairs_per_second: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


LABELLED_RECALL_TOLERANCE = 0.01
"""How far recall on the labelled queries may fall before a candidate counts as forgetting:
their recall is a mean over a few dozen queries of one to five relevant articles each, so
one article found or missed moves it by about a hundredth; a smaller fall is noise."""


def judge(
    held_out_base: float, held_out_tuned: float, labelled_base: float, labelled_tuned: float
) -> tuple[bool, str]:
    """Promote only a model that finds more held-out pairs and, on the labelled queries,
    not fewer answers than the noise of a single article."""
    if held_out_tuned <= held_out_base:
        return False, (
            f"held-out recall@10 {held_out_tuned:.3f} is not above the current model's "
            f"{held_out_base:.3f}"
        )
    if labelled_tuned < labelled_base - LABELLED_RECALL_TOLERANCE:
        return False, (
            f"recall@10 on the labelled queries fell from {labelled_base:.3f} to "
            f"{labelled_tuned:.3f}"
        )
    return True, (
        f"held-out recall@10 {held_out_base:.3f} -> {held_out_tuned:.3f}, labelled queries "
        f"{labelled_base:.3f} -> {labelled_tuned:.3f}"
    )


def finetunes_dir(home: Path) -> Path:
    return home / FINETUNES_FOLDER


def candidate_folder(home: Path, base_version: str, started: datetime) -> Path:
    """A new, unique folder name for a run started at ``started`` from ``base_version``."""
    return finetunes_dir(home) / f"{base_version}-ft-{started:%Y%m%dT%H%M%S%f}"


def write_evaluation(folder: Path, evaluation: FinetuneEvaluation) -> None:
    (folder / EVALUATION_FILE).write_text(
        json.dumps(evaluation.to_json(), indent=2) + "\n", encoding="utf-8"
    )


def read_evaluation(folder: Path) -> FinetuneEvaluation | None:
    path = folder / EVALUATION_FILE
    if not path.is_file():
        return None
    return FinetuneEvaluation(**json.loads(path.read_text(encoding="utf-8")))


def promote(home: Path, folder: Path) -> None:
    """Make ``folder`` the model writers use for its base model (atomically: a reader sees
    the old or the new file, never half of one)."""
    evaluation = read_evaluation(folder)
    if evaluation is None or not evaluation.promoted:
        raise ValueError(f"{folder} has no evaluation that allows promoting it")
    target = finetunes_dir(home) / PROMOTED_FILE
    partial = target.with_suffix(".partial")
    partial.write_text(
        json.dumps({"folder": folder.name, "base_model": evaluation.base_model}) + "\n",
        encoding="utf-8",
    )
    partial.replace(target)


def promoted_finetune(home: Path, base_model: str) -> Path | None:
    """The promoted fine-tune of ``base_model``, or None."""
    path = finetunes_dir(home) / PROMOTED_FILE
    if not path.is_file():
        return None
    promoted = json.loads(path.read_text(encoding="utf-8"))
    folder = finetunes_dir(home) / str(promoted["folder"])
    if promoted["base_model"] != base_model or not folder.is_dir():
        return None
    return folder


def model_for_writers(home: Path, configured: str) -> str:
    """The model the next index run embeds with: the promoted fine-tune, else the configured."""
    promoted = promoted_finetune(home, configured)
    return str(promoted) if promoted is not None else configured


def model_for_readers(home: Path, configured: str, indexed_model: str | None) -> str:
    """The model queries embed with: the one that built the current index table
    (``indexed_model``) when it is a fine-tune of the configured model, else the configured
    one (whose mismatch with the table, if any, the reader reports)."""
    if indexed_model is None or indexed_model == configured:
        return configured
    folder = Path(indexed_model)
    evaluation = read_evaluation(folder) if folder.parent == finetunes_dir(home) else None
    if evaluation is not None and evaluation.base_model == configured:
        return indexed_model
    return configured


def query_model(tables: TableStore, configured: str) -> str:
    """:func:`model_for_readers` for the index whose manifest ``tables`` holds, as it is now
    (the fine-tunes live under the tables' home, wherever the tables are stored)."""
    from prosora_pipelines.lib.index.vector_store import read_manifest

    manifest = read_manifest(tables)
    return model_for_readers(tables.home, configured, manifest.model_id if manifest else None)
