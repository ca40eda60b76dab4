"""The check that promotes an engagement model only when it beats what predicts today."""

import dagster as dg

from prosora_pipelines.defs.engagement.assets import engagement_model
from prosora_pipelines.defs.engagement.resources import LearningResource
from prosora_pipelines.lib.engagement.learning import decide_promotion
from prosora_pipelines.lib.engagement.model_registry import versions


@dg.asset_check(asset=engagement_model, blocking=True)
def engagement_model_beats_current(
    context: dg.AssetCheckExecutionContext, learning: LearningResource
) -> dg.AssetCheckResult:
    """Promotes the newest candidate (the manifest predictors read switches to it) when it
    beats the promoted model and every baseline on hold-out MAE and pairwise accuracy by
    more than chance (``lib.engagement.learning.decide_promotion``). A candidate that does
    not fails the check, with the reason. Too few observations for a candidate is a warning:
    nothing was trained, and the promoted model, if any, stays."""
    saved = versions(learning.models_dir)
    materialization = context.instance.get_latest_materialization_event(engagement_model.key)
    version: str | None = None
    if materialization is not None and materialization.asset_materialization is not None:
        named = materialization.asset_materialization.metadata.get("version")
        version = str(getattr(named, "value", named)) if named is not None else None
    if version not in saved:
        version = None
    decision = decide_promotion(learning.models_dir, version)
    context.log.info(decision.reason)
    severity = dg.AssetCheckSeverity.WARN if version is None else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        passed=decision.promoted,
        severity=severity,
        description=decision.reason,
        metadata={
            "candidate": version or "none",
            "promoted": decision.promoted,
            "newly_promoted": decision.newly_promoted,
        },
    )
