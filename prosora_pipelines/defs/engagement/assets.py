"""The learning loop's assets. Thin: observations, patterns and training are in
``lib.engagement``; these read and write where the settings say and describe the result."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import select

from prosora_pipelines.defs.embeddings.resources import EmbeddingModelResource
from prosora_pipelines.defs.engagement.resources import AppDatabaseResource, LearningResource
from prosora_pipelines.defs.metadata_tables import OWNERS, markdown_preview, table_metadata
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.appdb.engine import reading
from prosora_pipelines.lib.appdb.models import User
from prosora_pipelines.lib.engagement.learning import train_candidate
from prosora_pipelines.lib.engagement.observations import (
    SKIP_REASONS,
    FeedbackPost,
    build_observations,
    feedback_versions,
    read_feedback_posts,
)
from prosora_pipelines.lib.engagement.patterns import estimate_patterns, upsert_patterns
from prosora_pipelines.lib.engagement.reports import effects_markdown, effects_plot_markdown
from prosora_pipelines.lib.table_names import ENGAGEMENT_OBSERVATIONS_TABLE
from prosora_pipelines.lib.table_store import NotMaterializedError

LEARNING_CURVE_SIZES = (50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
_PREVIEW_COLUMNS = ["posted_at", "format", "hook_type", "length_band", "rate", "prior_rate"]


@dg.asset(
    group_name="engagement",
    kinds={"polars", "parquet"},
    owners=OWNERS,
    code_version="1",
)
def engagement_observations(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    app_database: AppDatabaseResource,
    embedding_model: EmbeddingModelResource,
) -> dg.MaterializeResult[None]:
    """Every usable feedback row joined to the variant it rates, with the post's features
    and text embedding (``lib.engagement.observations``). Incremental: only new and changed
    feedback is read and embedded, and a run with nothing new leaves the table as it was.
    Rows with impossible figures are counted by reason and never reach training."""
    sessions = reading(app_database.sessions())
    with sessions.begin() as session:
        versions = feedback_versions(session)

    def read_posts(feedback_ids: Iterable[str]) -> list[FeedbackPost]:
        with sessions.begin() as session:
            return read_feedback_posts(session, feedback_ids)

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        # Loaded only when there is something new to embed.
        return embedding_model.embedder().encode(texts, batch_size=embedding_model.batch_size)

    existing = storage.tables.read_table(ENGAGEMENT_OBSERVATIONS_TABLE)
    build = build_observations(
        existing,
        versions,
        read_posts,
        embed,
    )
    path = storage.tables.table_path(ENGAGEMENT_OBSERVATIONS_TABLE)
    if build.changed or existing is None:
        path = storage.tables.write_table(ENGAGEMENT_OBSERVATIONS_TABLE, build.table)
    context.log.info(
        f"{len(build.table)} observations: {build.added} added, {build.replaced} replaced, "
        f"{build.removed} removed, {sum(build.skipped.values())} feedback rows left out"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(build.table, path),
            "observations": len(build.table),
            "users": build.table["user_id"].n_unique(),
            "added": build.added,
            "replaced": build.replaced,
            "removed": build.removed,
            **{f"left_out: {reason}": build.skipped.get(reason, 0) for reason in SKIP_REASONS},
            "preview": markdown_preview(
                build.table.sort("posted_at", descending=True), _PREVIEW_COLUMNS
            ),
        }
    )


def _observations(storage: ProsoraStorage) -> pl.DataFrame:
    table = storage.tables.read_table(ENGAGEMENT_OBSERVATIONS_TABLE)
    if table is None:
        raise dg.Failure(
            str(NotMaterializedError(f"{ENGAGEMENT_OBSERVATIONS_TABLE} has not been built"))
        )
    return table


@dg.asset(
    group_name="engagement",
    deps=[engagement_observations],
    kinds={"sql"},
    owners=OWNERS,
    code_version="1",
)
def learning_patterns(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    app_database: AppDatabaseResource,
) -> dg.MaterializeResult[None]:
    """Per user, each feature value's effect on the engagement rate against the user's own
    baseline, partially pooled toward the all-users effect, with a 90 % interval; written to
    the ``learning_patterns`` table, one row per user × pattern, history kept
    (``lib.engagement.patterns``)."""
    table = _observations(storage)
    estimates = estimate_patterns(table)
    with app_database.sessions().begin() as session:
        changes = upsert_patterns(session, estimates, datetime.now(UTC))
        names = {
            str(user_id): email for user_id, email in session.execute(select(User.id, User.email))
        }
    context.log.info(
        f"{len(estimates)} patterns, {sum(e.active for e in estimates)} active: "
        f"{len(changes.gained)} gained, {len(changes.lost)} lost"
    )
    return dg.MaterializeResult(
        metadata={
            "patterns": len(estimates),
            "active": sum(estimate.active for estimate in estimates),
            "users": len({estimate.user_id for estimate in estimates}),
            "gained": len(changes.gained),
            "lost": len(changes.lost),
            "created": changes.created,
            "updated": changes.updated,
            "unchanged": changes.unchanged,
            "gained_patterns": ", ".join(f"{f}={v}" for _, f, v in changes.gained) or "none",
            "lost_patterns": ", ".join(f"{f}={v}" for _, f, v in changes.lost) or "none",
            "top_effects": dg.MetadataValue.md(effects_markdown(estimates, names)),
            "effects_plot": dg.MetadataValue.md(effects_plot_markdown(estimates, names)),
        }
    )


def _scores_markdown(metrics: Mapping[str, Any]) -> str:
    lines = [
        "| predictor | hold-out MAE | Spearman | pairwise accuracy |",
        "|---|---|---|---|",
    ]
    for name, scores in metrics.get("scores", {}).items():
        spearman = scores["spearman"]
        pairwise = scores["pairwise_accuracy"]
        lines.append(
            f"| {name} | {scores['mae']:.5f} "
            f"| {'n/a' if spearman is None else f'{spearman:.3f}'} "
            f"| {'n/a' if pairwise is None else f'{pairwise:.3f}'} |"
        )
    return "\n".join(lines)


def _curve_markdown(metrics: Mapping[str, Any]) -> str:
    lines = ["| training observations | model MAE | user-mean MAE |", "|---|---|---|"]
    lines.extend(
        f"| {point['observations']} | {point['model_mae']:.5f} | {point['user_mean_mae']:.5f} |"
        for point in metrics.get("learning_curve", [])
    )
    return "\n".join(lines)


@dg.asset(
    group_name="engagement",
    deps=[engagement_observations],
    kinds={"scikitlearn", "json"},
    owners=OWNERS,
    code_version="1",
)
def engagement_model(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    learning: LearningResource,
    embedding_model: EmbeddingModelResource,
) -> dg.MaterializeResult[None]:
    """A candidate engagement model trained on the older 80 % of the observations and
    scored with the user-mean, prior and nearest-neighbour baselines (and the promoted
    model) on the newest 20 % (``lib.engagement.training``); saved as a new version under
    ``PROSORA_HOME/models/engagement/``. The check ``engagement_model_beats_current``
    decides whether it is promoted."""
    table = _observations(storage)
    outcome = train_candidate(
        learning.models_dir,
        table,
        embedding_model=embedding_model.model,
        curve_sizes=[size for size in LEARNING_CURVE_SIZES if size < len(table)],
    )
    context.log.info(f"candidate {outcome.version or 'none'}: {outcome.reason}")
    metrics = outcome.metrics
    metadata: dict[str, Any] = {
        "version": outcome.version or "none",
        "reused": outcome.reused,
        "reason": outcome.reason,
        "observations": len(table),
    }
    if outcome.version is not None:
        metadata.update(
            {
                "training_size": metrics["training_size"],
                "holdout_size": metrics["holdout_size"],
                "beats_all": metrics["beats_all"],
                "compared_with": metrics.get("current_version") or "no promoted model",
                "scores": dg.MetadataValue.md(_scores_markdown(metrics)),
                "learning_curve": dg.MetadataValue.md(_curve_markdown(metrics)),
                "path": dg.MetadataValue.path(
                    str(learning.models_dir / "engagement" / outcome.version)
                ),
            }
        )
    return dg.MaterializeResult(metadata=metadata)
