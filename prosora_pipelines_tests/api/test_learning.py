"""Why: a user sees learning through the API without touching Dagster: a model promoted
while the API runs predicts the very next query (no restart), and the performance report
shows that model against the prior and the baselines, with its learning curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from prosora_pipelines.lib.engagement.features import NUMERIC_FEATURES
from prosora_pipelines.lib.engagement.model_registry import (
    LinearEngagementModel,
    promote,
    save_model,
)
from prosora_pipelines_tests.api.conftest import ApiUser, MakeApi


def _home_with_own_models(materialized: Path, home: Path) -> Path:
    """A home that reads the shared materialized one (through links) but keeps trained
    models of its own, so promoting one leaves the shared home untouched."""
    home.mkdir()
    for entry in materialized.iterdir():
        if entry.name != "models":
            (home / entry.name).symlink_to(entry)
    (home / "models").mkdir()
    for entry in (materialized / "models").iterdir():
        (home / "models" / entry.name).symlink_to(entry)
    return home


def _story_model() -> LinearEngagementModel:
    """A model in the registry's format that favours story hooks (a fixture standing for a
    trained one; training is tested with the engagement assets)."""
    numeric = len(NUMERIC_FEATURES)
    return LinearEngagementModel(
        columns=("hook_type=story",),
        column_features=("hook_type",),
        coefficients=np.log(np.array([1.35])),
        intercept=0.0,
        column_means=np.array([0.25]),
        numeric_centres=np.zeros(numeric),
        numeric_scales=np.ones(numeric),
        embedding_centre=np.zeros(384),
        projection=np.zeros((0, 384)),
        user_baselines={},
        global_baseline=0.03,
        smearing=1.0,
    )


def _metrics(model_mae: float) -> dict[str, Any]:
    """Hold-out figures in the shape ``training.TrainingReport.metrics`` writes."""
    return {
        "scores": {
            "linear": {"mae": model_mae, "spearman": 0.5, "pairwise_accuracy": 0.7},
            "user_mean": {"mae": 0.012, "spearman": 0.1, "pairwise_accuracy": 0.5},
            "prior": {"mae": 0.015, "spearman": 0.05, "pairwise_accuracy": 0.52},
            "knn": {"mae": 0.011, "spearman": 0.2, "pairwise_accuracy": 0.55},
        },
        "reason": "fixture",
        "training_size": 400,
        "holdout_size": 100,
        "learning_curve": [
            {"observations": 100, "model_mae": 0.011, "user_mean_mae": 0.012},
            {"observations": 400, "model_mae": model_mae, "user_mean_mae": 0.012},
        ],
    }


def test_a_promoted_model_reaches_the_running_api_and_its_report(
    make_api: MakeApi, materialized_home: Path, tmp_path: Path
) -> None:
    home = _home_with_own_models(materialized_home, tmp_path / "home")
    api = make_api(home=home)
    alice = ApiUser(api, "alice@example.com")
    before = alice.ask()
    assert {v["prediction"]["kind"] for v in before["variants"]} == {"prior"}
    report = alice.get("/analytics/performance").json()
    assert report["model"] is None and report["latest_candidate"] is None

    models = home / "models"
    version = save_model(models, _story_model(), _metrics(0.009), {"columns": []})
    promote(models, version, "beats every baseline")
    refused = save_model(models, _story_model(), _metrics(0.013), {"columns": []})

    after = alice.ask()
    assert {v["prediction"]["kind"] for v in after["variants"]} == {"learned"}
    assert {v["prediction"]["model_version"] for v in after["variants"]} == {version}
    assert after["model_versions"]["predictor"] == version
    stored = alice.get(f"/queries/{after['query_id']}").json()
    assert stored["model_versions"]["predictor"] == version

    report = alice.get("/analytics/performance").json()
    model = report["model"]
    assert (model["version"], model["promoted"]) == (version, True)
    assert model["scores"]["linear"]["mae"] == 0.009
    assert set(model["scores"]) == {"linear", "user_mean", "prior", "knn"}
    assert [p["observations"] for p in model["learning_curve"]] == [100, 400]
    candidate = report["latest_candidate"]
    assert (candidate["version"], candidate["promoted"]) == (refused, False)
