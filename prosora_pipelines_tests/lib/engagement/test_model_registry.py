from pathlib import Path

import numpy as np
import pytest

from prosora_pipelines.lib.engagement.features import post_features
from prosora_pipelines.lib.engagement.model_registry import (
    LinearEngagementModel,
    load_promoted,
    promote,
    promoted_version,
    read_manifest,
    save_model,
    versions,
)


def _model(story_coefficient: float) -> LinearEngagementModel:
    return LinearEngagementModel(
        columns=("hook_type=story", "num:length_chars", "emb:0"),
        column_features=("hook_type", "length_chars", "text"),
        coefficients=np.array([story_coefficient, 0.0, 0.0]),
        intercept=0.0,
        column_means=np.array([0.5, 0.0, 0.0]),
        numeric_centres=np.zeros(7),
        numeric_scales=np.ones(7),
        embedding_centre=np.zeros(3),
        projection=np.array([[1.0, 0.0, 0.0]]),
        user_baselines={"alice": 0.04},
        global_baseline=0.02,
        smearing=1.0,
    )


def test_versions_promotion_and_reload_without_restart(tmp_path: Path) -> None:
    assert load_promoted(tmp_path) is None
    first = save_model(tmp_path, _model(0.2), {"mae": 0.01}, {"columns": []})
    second = save_model(tmp_path, _model(-0.2), {"mae": 0.02}, {"columns": []})
    assert versions(tmp_path) == ["engagement-model-1", "engagement-model-2"] == [first, second]
    assert load_promoted(tmp_path) is None  # saved is not promoted

    promote(tmp_path, first, "beats the prior")
    story = post_features("A story.", "linkedin_post", "story", [], [], None, None)
    predictor = load_promoted(tmp_path)
    assert predictor is not None and predictor.version == first
    rate, contributions = predictor.predict(story, np.zeros(3), user_id="alice")
    assert rate == pytest.approx(0.04 * np.exp(0.2))
    assert contributions[0][0] == "hook_type"
    assert contributions[0][1] == pytest.approx(np.expm1(0.2 * 0.5))
    unknown_user_rate, _ = predictor.predict(story, None)
    assert unknown_user_rate == pytest.approx(0.02 * np.exp(0.2))
    assert load_promoted(tmp_path) is predictor  # unchanged manifest: not reread

    promote(tmp_path, second, "beats the first")
    reloaded = load_promoted(tmp_path)
    assert reloaded is not None and reloaded.version == second
    assert reloaded.predict(story, None, user_id="alice")[0] < rate
    manifest = read_manifest(tmp_path)
    assert manifest is not None
    assert [entry["version"] for entry in manifest["history"]] == [first, second]
    assert promoted_version(tmp_path) == second
    assert not [path for path in (tmp_path / "engagement").iterdir() if path.name.startswith(".")]


def test_promoting_a_missing_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="engagement-model-9"):
        promote(tmp_path, "engagement-model-9", "no such model")
