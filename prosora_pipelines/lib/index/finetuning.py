"""Contrastive fine-tuning of the embedding model on the user's own material.

The general-purpose model has never seen this catalog's vocabulary, and it does not know which
evidence a user's readers responded to. Two kinds of in-domain pairs teach it both:

- an article's title and the opening of its body, which say the same thing in two registers,
  as a question and the passage that answers it do;
- a query and the evidence cited by a draft that did better than its author's median,
  which is what the user wants the search to find for such a question.

Training uses in-batch negatives (MultipleNegativesRankingLoss): every other positive in a
batch is a negative for an anchor, so no labelled negatives are needed, and bigger batches
help. The same code runs on a GPU (mixed precision as configured) and on the CPU.

A run is judged on pairs it never trained on: a deterministic share of the pairs, picked by
a hash of the anchor so a re-run holds out the same ones. Recall@k is the share of held-out
anchors whose own positive is among the k nearest of all held-out positives.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

PairOrigin = Literal["title_body", "query_evidence"]
Precision = Literal["auto", "fp32", "fp16", "bf16"]

BODY_CHARACTERS = 600
"""How much of an article's text pairs with its title: about the opening paragraph, which is
what a title summarizes, and well inside the model's token limit."""
MIN_TITLE_CHARACTERS = 12
MIN_BODY_CHARACTERS = 80
HELD_OUT_BUCKETS = 10
"""Pairs are hashed into this many buckets; ``held_out_buckets`` of them are held out."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPair:
    """Two texts that should embed close together, and where the pair came from."""

    anchor: str
    positive: str
    origin: PairOrigin


@dataclass(frozen=True)
class FinetuneConfig:
    """How long and how hard to train. ``max_steps`` bounds a run whatever the data size;
    ``precision`` ``auto`` means bf16 on a GPU that has it, fp16 on another GPU, fp32 on
    the CPU. The device is the embedding model's own."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    max_steps: int | None = None
    warmup_ratio: float = 0.1
    precision: Precision = "auto"
    seed: int = 0
    max_tokens: int = 128
    """Tokens per text while training: titles and openings fit, and attention costs grow
    with the square of the length."""


@dataclass(frozen=True)
class FinetuneRun:
    """What one training run did: on which device, how many pairs, how fast."""

    device: str
    precision: str
    train_pairs: int
    batch_size: int
    steps: int
    seconds: float

    @property
    def pairs_per_second(self) -> float:
        """Pairs trained on per second (a step trains on one batch)."""
        return self.steps * self.batch_size / self.seconds if self.seconds else 0.0


def title_body_pairs(articles: Iterable[tuple[str, str]]) -> list[TrainingPair]:
    """One pair per article with a real title and enough body: (title, opening of the body)."""
    pairs = []
    for title, text in articles:
        title, body = " ".join(title.split()), " ".join(text.split())
        if len(title) < MIN_TITLE_CHARACTERS or len(body) < MIN_BODY_CHARACTERS:
            continue
        if body.startswith(title):
            body = body[len(title) :].lstrip(" .:-")
        pairs.append(TrainingPair(title, _opening(body), "title_body"))
    return pairs


def query_evidence_pairs(
    cited: Iterable[tuple[str, str, str]], article_texts: dict[str, tuple[str, str]]
) -> list[TrainingPair]:
    """(query, cited article) pairs from ``cited`` rows of (query text, article id, user id)
    that the caller kept because their draft did better than its author's median. Articles
    no longer in the table are passed over; each (query, article) pair counts once."""
    seen: set[tuple[str, str]] = set()
    pairs = []
    for query, article_id, _user in cited:
        if (query, article_id) in seen or article_id not in article_texts:
            continue
        seen.add((query, article_id))
        title, text = article_texts[article_id]
        pairs.append(TrainingPair(query, _opening(f"{title}. {text}"), "query_evidence"))
    return pairs


def _opening(text: str) -> str:
    if len(text) <= BODY_CHARACTERS:
        return text
    cut = text.rfind(" ", 0, BODY_CHARACTERS)
    return text[: cut if cut > 0 else BODY_CHARACTERS]


def split_pairs(
    pairs: Sequence[TrainingPair], held_out_buckets: int = 2
) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """(train, held out): a pair is held out when the hash of its anchor falls in the first
    ``held_out_buckets`` of ``HELD_OUT_BUCKETS``, so the split never depends on order."""
    train: list[TrainingPair] = []
    held_out: list[TrainingPair] = []
    for pair in pairs:
        digest = hashlib.sha256(pair.anchor.encode("utf-8")).digest()
        bucket = int.from_bytes(digest[:4], "big") % HELD_OUT_BUCKETS
        (held_out if bucket < held_out_buckets else train).append(pair)
    return train, held_out


Encode = Callable[[Sequence[str]], npt.NDArray[np.float32]]


def recall_at_k(
    encode: Encode,
    pairs: Sequence[TrainingPair],
    distractors: Sequence[str] = (),
    k: int = 10,
) -> float:
    """Share of anchors whose own positive is among the ``k`` texts nearest to it, searching
    every pair's positive plus ``distractors`` (unit vectors, so the dot product is the
    cosine). Distractors (the training pairs' positives, say) make the search as crowded as
    the index a query really searches."""
    if not pairs:
        raise ValueError("recall needs at least one held-out pair")
    anchors = encode([pair.anchor for pair in pairs])
    candidates = encode([pair.positive for pair in pairs] + list(distractors))
    scores = anchors @ candidates.T
    own = scores[np.arange(len(pairs)), np.arange(len(pairs))]
    better = (scores > own[:, None]).sum(axis=1)
    return float(np.mean(better < k))


def choose_precision(device: str, precision: Precision) -> str:
    """The precision a run uses: mixed precision only on CUDA, where it pays."""
    if not device.startswith("cuda"):
        return "fp32"
    if precision != "auto":
        return precision
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def finetune(
    base_model: Path,
    pairs: Sequence[TrainingPair],
    output: Path,
    config: FinetuneConfig,
    device: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> FinetuneRun:
    """Train a copy of ``base_model`` on ``pairs`` and save it as a sentence-transformers
    folder at ``output``. ``on_progress(step, total_steps)`` is called as training goes."""
    if len(pairs) < 2:
        raise ValueError("fine-tuning needs at least two training pairs (in-batch negatives)")
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import (
        PrinterCallback,
        TrainerCallback,
        TrainerControl,
        TrainerState,
        TrainingArguments,
    )
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    precision = choose_precision(device, config.precision)
    model = SentenceTransformer(str(base_model), device=device, local_files_only=True)
    serving_tokens = model.max_seq_length
    model.max_seq_length = min(serving_tokens or config.max_tokens, config.max_tokens)
    batch_size = min(config.batch_size, len(pairs))
    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    dataset = Dataset.from_dict(
        {"anchor": [pair.anchor for pair in pairs], "positive": [pair.positive for pair in pairs]}
    )

    class QuietTrainer(SentenceTransformerTrainer):
        """The library's trainer without the model card it drafts for publishing on a hub
        (which samples the data and draws a progress bar on the terminal)."""

        def add_model_card_callback(self, default_args_dict: dict[str, object]) -> None:  # noqa: ARG002
            return None

    class Progress(TrainerCallback):
        def on_step_end(
            self,
            args: TrainingArguments,  # noqa: ARG002
            state: TrainerState,
            control: TrainerControl,  # noqa: ARG002
            **_: object,
        ) -> None:
            if on_progress is not None:
                on_progress(state.global_step, total_steps)

    checkpoints = output.parent / f".{output.name}-checkpoints"
    arguments = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        use_cpu=device == "cpu",
        # Duplicate texts in one batch would be each other's false negatives.
        batch_sampler="no_duplicates",
        save_strategy="no",
        report_to="none",
        logging_strategy="no",
        disable_tqdm=True,
        seed=config.seed,
        dataloader_num_workers=0,
    )
    trainer = QuietTrainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        loss=MultipleNegativesRankingLoss(model),
        callbacks=[Progress()],
    )
    trainer.remove_callback(PrinterCallback)  # it prints the final metrics as a dict
    started = time.perf_counter()
    state = trainer.train()
    seconds = time.perf_counter() - started
    model.max_seq_length = serving_tokens  # the saved model chunks and serves as before
    model.save(str(output), create_model_card=False)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return FinetuneRun(
        device=device,
        precision=precision,
        train_pairs=len(pairs),
        batch_size=batch_size,
        steps=int(state.global_step),
        seconds=seconds,
    )


def labelled_query_recall(
    encode: Encode,
    queries: Sequence[tuple[str, frozenset[str]]],
    documents: dict[str, str],
    k: int = 10,
) -> float:
    """Mean over ``queries`` of the share of each query's relevant documents among its ``k``
    nearest, searching every document by brute force (no index, so both models are compared
    on exactly the same candidates)."""
    ids = list(documents)
    vectors = encode([documents[doc_id] for doc_id in ids])
    query_vectors = encode([text for text, _ in queries])
    recalls = []
    for (_, relevant), query_vector in zip(queries, query_vectors, strict=True):
        nearest = np.argsort(-(vectors @ query_vector))[:k]
        found = {ids[position] for position in nearest}
        recalls.append(len(found & relevant) / len(relevant))
    return float(np.mean(recalls))
