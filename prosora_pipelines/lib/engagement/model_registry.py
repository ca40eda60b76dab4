"""Trained engagement models on disk: versions, the promoted one, and loading it.

Layout under the models folder (``PROSORA_HOME/models``)::

    engagement/
        manifest.json                 {"promoted": "<version>", "promoted_at": ..., "reason": ...,
                                       "history": [{"version", "promoted_at", "reason"}, ...]}
        <version>/
            model.npz                 the fitted arrays (coefficients, centres, projection)
            model.json                names, per-user baselines and scalars
            metrics.json              hold-out metrics of the candidate and every baseline
            features.json             the feature and column lists the model was fitted on

A version is written whole into a temporary folder and renamed into place, and the manifest
is replaced atomically, so a reader sees either the old promoted model or the new one, never
half of one. Versions are ``engagement-model-<n>``, counting up, and are never overwritten:
the manifest can point back at any of them.

``load_promoted`` is what predictors call on every prediction: it reads the manifest's
modification time and reloads only when it changed, so an API or CLI process picks up a newly
promoted model without a restart and without rereading the model each time.

The model is a linear model of the log engagement rate relative to the user's baseline
(``LinearEngagementModel``): plain arrays, no pickled code, so a file from one library version
loads in another and can be inspected.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prosora_pipelines.lib.engagement.features import (
    NUMERIC_FEATURES,
    PostFeatures,
    numeric_values,
    pattern_values,
)

MODELS_FOLDER = "models"
"""The folder under ``PROSORA_HOME`` for models (the query encoders live there too)."""
ENGAGEMENT_FOLDER = "engagement"
MANIFEST = "manifest.json"
VERSION_PREFIX = "engagement-model-"
EMBEDDING_FEATURE = "text"
"""The name the text embedding's part of a prediction is reported under."""
_VERSION = re.compile(rf"^{re.escape(VERSION_PREFIX)}(\d+)$")

FloatArray = npt.NDArray[np.float64]
Contribution = tuple[str, float]
"""A feature and its signed effect on the prediction: the relative change of the predicted
rate against an average post of the training data (0.18 = 18 % higher)."""


@dataclass(frozen=True)
class LinearEngagementModel:
    """``log(rate) = log(baseline(user)) + intercept + coefficients · x + log(smearing)``.

    ``x`` holds one column per pattern key (``feature=value``, 1 or 0), the standardized
    ``NUMERIC_FEATURES`` (``numeric_centres``/``numeric_scales``) and the text embedding
    projected on ``projection`` (rows: components) after subtracting ``embedding_centre``.
    ``column_features`` names the feature each column belongs to; ``column_means`` are the
    training means used to say how far a post is from an average one. The baseline is the
    user's shrunk mean rate from training (``user_baselines``), ``global_baseline`` for a
    user the model has not seen. ``smearing`` turns a mean of logs back into a mean rate.
    """

    columns: tuple[str, ...]
    column_features: tuple[str, ...]
    coefficients: FloatArray
    intercept: float
    column_means: FloatArray
    numeric_centres: FloatArray
    numeric_scales: FloatArray
    embedding_centre: FloatArray
    projection: FloatArray
    user_baselines: Mapping[str, float]
    global_baseline: float
    smearing: float
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.columns)})

    def design_row(
        self, features: PostFeatures, text_embedding: npt.NDArray[np.floating[Any]] | None
    ) -> FloatArray:
        """The model's input for one post (an unseen pattern value sets no column; no
        embedding puts the post at the training centre)."""
        row = np.zeros(len(self.columns))
        for name, value in pattern_values(features).items():
            index = self._index.get(f"{name}={value}")
            if index is not None:
                row[index] = 1.0
        numbers = numeric_values(features)
        for position, name in enumerate(NUMERIC_FEATURES):
            index = self._index.get(f"num:{name}")
            if index is not None:
                scaled = (numbers[name] - self.numeric_centres[position]) / self.numeric_scales[
                    position
                ]
                row[index] = scaled
        if self.projection.size:
            first = self._index["emb:0"]
            if text_embedding is None:
                projected = np.zeros(self.projection.shape[0])
            else:
                vector = np.asarray(text_embedding, dtype=np.float64) - self.embedding_centre
                projected = self.projection @ vector
            row[first : first + self.projection.shape[0]] = projected
        return row

    def baseline(self, user_id: str | None) -> float:
        if user_id is None:
            return self.global_baseline
        return self.user_baselines.get(user_id, self.global_baseline)

    def predict_rows(self, rows: FloatArray, user_ids: Sequence[str | None]) -> FloatArray:
        """Predicted rates for a design matrix, one user id per row."""
        baselines = np.array([self.baseline(user) for user in user_ids])
        log_lift = self.intercept + rows @ self.coefficients
        return np.clip(baselines * np.exp(log_lift) * self.smearing, 0.0, 1.0)

    def contributions(self, row: FloatArray) -> list[Contribution]:
        """Each feature's effect on the prediction, largest first (see ``Contribution``)."""
        effects: dict[str, float] = {}
        for feature, coefficient, value, mean in zip(
            self.column_features, self.coefficients, row, self.column_means, strict=True
        ):
            effects[feature] = effects.get(feature, 0.0) + coefficient * (value - mean)
        return sorted(
            ((feature, math.expm1(effect)) for feature, effect in effects.items()),
            key=lambda item: -abs(item[1]),
        )


@dataclass(frozen=True)
class EngagementPredictor:
    """A promoted model ready to predict, with its version."""

    version: str
    model: LinearEngagementModel
    metrics: Mapping[str, Any]

    def predict(
        self,
        features: PostFeatures,
        text_embedding: npt.NDArray[np.floating[Any]] | None,
        user_id: str | None = None,
    ) -> tuple[float, list[Contribution]]:
        """The predicted engagement rate of a post and each feature's contribution.

        ``user_id`` (the app database id as text) picks the user's own baseline; without it,
        or for a user the model was not trained on, the all-users baseline applies."""
        row = self.model.design_row(features, text_embedding)
        rate = float(self.model.predict_rows(row[np.newaxis, :], [user_id])[0])
        return rate, self.model.contributions(row)


def models_dir(home: Path) -> Path:
    """Where the models of the installation at ``home`` (``PROSORA_HOME``) are kept."""
    return home / MODELS_FOLDER


def engagement_folder(models_dir: Path) -> Path:
    return models_dir / ENGAGEMENT_FOLDER


def versions(models_dir: Path) -> list[str]:
    """Every saved version, oldest first."""
    folder = engagement_folder(models_dir)
    if not folder.is_dir():
        return []
    numbered = [
        (int(match.group(1)), path.name)
        for path in folder.iterdir()
        if path.is_dir() and (match := _VERSION.match(path.name))
    ]
    return [name for _, name in sorted(numbered)]


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_model(
    models_dir: Path,
    model: LinearEngagementModel,
    metrics: Mapping[str, Any],
    features: Mapping[str, Any],
) -> str:
    """Store a candidate as the next version (not promoted) and return its version."""
    folder = engagement_folder(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    existing = versions(models_dir)
    number = int(existing[-1].removeprefix(VERSION_PREFIX)) + 1 if existing else 1
    version = f"{VERSION_PREFIX}{number}"
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        np.savez(
            staging / "model.npz",
            coefficients=model.coefficients,
            column_means=model.column_means,
            numeric_centres=model.numeric_centres,
            numeric_scales=model.numeric_scales,
            embedding_centre=model.embedding_centre,
            projection=model.projection,
        )
        _write_json(
            staging / "model.json",
            {
                "version": version,
                "columns": list(model.columns),
                "column_features": list(model.column_features),
                "intercept": model.intercept,
                "user_baselines": dict(model.user_baselines),
                "global_baseline": model.global_baseline,
                "smearing": model.smearing,
            },
        )
        _write_json(staging / "metrics.json", {"version": version, **metrics})
        _write_json(staging / "features.json", {"version": version, **features})
        staging.rename(folder / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version


def load_model(models_dir: Path, version: str) -> EngagementPredictor:
    """A saved version, promoted or not."""
    folder = engagement_folder(models_dir) / version
    described = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    with np.load(folder / "model.npz", allow_pickle=False) as arrays:
        model = LinearEngagementModel(
            columns=tuple(described["columns"]),
            column_features=tuple(described["column_features"]),
            coefficients=arrays["coefficients"],
            intercept=float(described["intercept"]),
            column_means=arrays["column_means"],
            numeric_centres=arrays["numeric_centres"],
            numeric_scales=arrays["numeric_scales"],
            embedding_centre=arrays["embedding_centre"],
            projection=arrays["projection"],
            user_baselines={str(k): float(v) for k, v in described["user_baselines"].items()},
            global_baseline=float(described["global_baseline"]),
            smearing=float(described["smearing"]),
        )
    return EngagementPredictor(version=version, model=model, metrics=metrics)


def read_manifest(models_dir: Path) -> dict[str, Any] | None:
    """The manifest, or None before anything was promoted."""
    path = engagement_folder(models_dir) / MANIFEST
    if not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def promoted_version(models_dir: Path) -> str | None:
    manifest = read_manifest(models_dir)
    return None if manifest is None else str(manifest["promoted"])


def promote(models_dir: Path, version: str, reason: str, *, now: datetime | None = None) -> None:
    """Make ``version`` the model predictors use, keeping the previous ones in the history."""
    if version not in versions(models_dir):
        raise FileNotFoundError(f"engagement model {version} does not exist in {models_dir}")
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    previous = read_manifest(models_dir)
    history = [] if previous is None else list(previous.get("history", []))
    history.append({"version": version, "promoted_at": at, "reason": reason})
    folder = engagement_folder(models_dir)
    handle, staging = tempfile.mkstemp(prefix=".manifest-", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(
            {"promoted": version, "promoted_at": at, "reason": reason, "history": history},
            file,
            indent=2,
        )
    Path(staging).replace(folder / MANIFEST)


_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], EngagementPredictor]] = {}


def load_promoted(models_dir: Path) -> EngagementPredictor | None:
    """The promoted model, None when none is; reloaded only when the manifest changed."""
    path = engagement_folder(models_dir) / MANIFEST
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    stamp = (stat.st_mtime_ns, stat.st_ino)
    key = path.resolve()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        version = promoted_version(models_dir)
        if version is None:
            return None
        predictor = load_model(models_dir, version)
        _cache[key] = (stamp, predictor)
        return predictor
