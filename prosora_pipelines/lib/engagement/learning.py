"""One learning step end to end: train a candidate on the observations, keep it as a new
version, and promote it only when it earned it.

Training is skipped when the newest saved candidate was trained on the same observations
(``observations_fingerprint``) and either is the promoted model or was judged against it:
re-running the job then trains nothing and saves no new version, so a re-run changes
nothing.

Promotion (``decide_promotion``) follows the verdicts stored with the candidate: it must
beat every baseline and the model promoted when it was trained (``training.verdict``); and
that model must still be the promoted one, or the comparison is stale and the candidate
waits for the next training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from prosora_pipelines.lib.engagement.features import (
    EMBEDDED_CHARACTERS,
    NUMERIC_FEATURES,
    PATTERN_FEATURES,
)
from prosora_pipelines.lib.engagement.model_registry import (
    engagement_folder,
    load_promoted,
    promote,
    promoted_version,
    save_model,
    versions,
)
from prosora_pipelines.lib.engagement.training import NotEnoughObservationsError, train


@dataclass(frozen=True)
class CandidateOutcome:
    """What a training step left: the candidate's version and metrics (None when there was
    too little to train on, with ``reason`` saying so), and whether it was an earlier one."""

    version: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    reused: bool = False
    reason: str = ""


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the candidate is the promoted model now, and why."""

    version: str | None
    promoted: bool
    newly_promoted: bool
    reason: str


def observations_fingerprint(table: pl.DataFrame) -> str:
    """A hash of which feedback rows, as of which recording, the table holds."""
    digest = hashlib.sha256()
    ordered = table.select("feedback_id", "recorded_at").sort("feedback_id")
    for feedback_id, recorded_at in ordered.iter_rows():
        digest.update(f"{feedback_id}|{recorded_at.isoformat()}\n".encode())
    return digest.hexdigest()[:16]


def read_metrics(models_dir: Path, version: str) -> dict[str, Any]:
    path = engagement_folder(models_dir) / version / "metrics.json"
    metrics: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return metrics


def train_candidate(
    models_dir: Path,
    table: pl.DataFrame,
    *,
    embedding_model: str,
    curve_sizes: Sequence[int] = (),
) -> CandidateOutcome:
    """Train and save a candidate unless the newest one already matches (module docstring)."""
    fingerprint = observations_fingerprint(table)
    current = load_promoted(models_dir)
    current_version = None if current is None else current.version
    saved = versions(models_dir)
    if saved:
        latest = read_metrics(models_dir, saved[-1])
        judged_against_today = latest.get("current_version") == current_version
        if latest.get("observations_fingerprint") == fingerprint and (
            judged_against_today or saved[-1] == current_version
        ):
            return CandidateOutcome(saved[-1], latest, reused=True, reason=latest["reason"])
    try:
        report = train(table, current, curve_sizes=curve_sizes)
    except NotEnoughObservationsError as error:
        return CandidateOutcome(None, reason=str(error))
    metrics = {**report.metrics(), "observations_fingerprint": fingerprint}
    version = save_model(
        models_dir,
        report.model,
        metrics,
        {
            "pattern_features": list(PATTERN_FEATURES),
            "numeric_features": list(NUMERIC_FEATURES),
            "columns": list(report.model.columns),
            "embedding_model": embedding_model,
            "embedding_text_characters": EMBEDDED_CHARACTERS,
        },
    )
    return CandidateOutcome(version, read_metrics(models_dir, version), reason=report.reason)


def decide_promotion(models_dir: Path, version: str | None) -> PromotionDecision:
    """Promote ``version`` when its verdicts allow (module docstring)."""
    current = promoted_version(models_dir)
    if version is None:
        return PromotionDecision(None, False, False, "no candidate: too few observations")
    if version == current:
        return PromotionDecision(version, True, False, f"{version} is already the promoted model")
    metrics = read_metrics(models_dir, version)
    if metrics.get("current_version") != current:
        return PromotionDecision(
            version,
            False,
            False,
            f"{version} was compared with {metrics.get('current_version') or 'no model'}, "
            f"but {current} is promoted now; the next training compares with it",
        )
    if not metrics.get("beats_all"):
        return PromotionDecision(version, False, False, f"{version} {metrics['reason']}")
    reason = f"{version} {metrics['reason']}"
    promote(models_dir, version, reason)
    return PromotionDecision(version, True, True, reason)
