"""What a person wants to know about the engagement models: the one predicting now, the
newest one trained, how each did on its hold-out against the prior and the baselines, and
how the hold-out error fell as observations grew (the learning curve).

Everything here is read from the registry (``model_registry``: the manifest and each
version's ``metrics.json``, as ``training.TrainingReport.metrics`` wrote it); nothing is
recomputed, so the API, the CLI and the demo show the figures the promotion was decided on.
The figures are over every user's hold-out observations, not one user's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prosora_pipelines.lib.engagement.model_registry import (
    engagement_folder,
    read_manifest,
    versions,
)


@dataclass(frozen=True)
class HoldoutScores:
    """One predictor's figures on the hold-out."""

    mae: float
    spearman: float | None
    pairwise_accuracy: float | None


@dataclass(frozen=True)
class CurvePoint:
    """The model refitted on the newest ``observations`` training rows, scored on the same
    hold-out as the full model, beside the user-mean baseline fitted on the same rows."""

    observations: int
    model_mae: float
    user_mean_mae: float


@dataclass(frozen=True)
class ModelReport:
    """A trained version: whether it predicts now, why (not), and its hold-out figures.
    ``scores`` is keyed by predictor: ``linear`` (the model), ``user_mean``, ``prior``,
    ``knn`` and, when one was promoted then, ``current``."""

    version: str
    promoted: bool
    reason: str
    training_size: int
    holdout_size: int
    scores: Mapping[str, HoldoutScores]
    learning_curve: tuple[CurvePoint, ...]


@dataclass(frozen=True)
class ModelsReport:
    """The promoted model (None while the prior predicts) and the newest trained version
    when it is another one (a candidate that was not promoted)."""

    promoted: ModelReport | None
    latest_candidate: ModelReport | None


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _report(models_dir: Path, version: str, promoted: bool) -> ModelReport:
    path = engagement_folder(models_dir) / version / "metrics.json"
    metrics: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return ModelReport(
        version=version,
        promoted=promoted,
        reason=str(metrics["reason"]),
        training_size=int(metrics["training_size"]),
        holdout_size=int(metrics["holdout_size"]),
        scores={
            name: HoldoutScores(
                mae=float(figures["mae"]),
                spearman=_optional(figures.get("spearman")),
                pairwise_accuracy=_optional(figures.get("pairwise_accuracy")),
            )
            for name, figures in metrics["scores"].items()
        },
        learning_curve=tuple(
            CurvePoint(
                observations=int(point["observations"]),
                model_mae=float(point["model_mae"]),
                user_mean_mae=float(point["user_mean_mae"]),
            )
            for point in metrics.get("learning_curve", [])
        ),
    )


def models_report(models_dir: Path) -> ModelsReport:
    """The promoted and the newest engagement model under ``models_dir``."""
    manifest = read_manifest(models_dir)
    promoted_version = None if manifest is None else str(manifest["promoted"])
    saved = versions(models_dir)
    newest = saved[-1] if saved else None
    return ModelsReport(
        promoted=None
        if promoted_version is None
        else _report(models_dir, promoted_version, promoted=True),
        latest_candidate=None
        if newest is None or newest == promoted_version
        else _report(models_dir, newest, promoted=False),
    )
