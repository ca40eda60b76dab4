"""The embedding fine-tune, and the sensor that rebuilds the index with a promoted model."""

from pathlib import Path

import dagster as dg

from prosora_pipelines.defs.articles.assets import articles
from prosora_pipelines.defs.embeddings.assets import article_index
from prosora_pipelines.defs.embeddings.resources import (
    EmbeddingFinetuneResource,
    EmbeddingModelResource,
)
from prosora_pipelines.defs.engagement.resources import AppDatabaseResource
from prosora_pipelines.defs.metadata_tables import OWNERS
from prosora_pipelines.defs.step_queues import GPU_STEP_TAGS
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.defs.telemetry import traced_materialization
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.embedding_finetune import (
    NotEnoughPairsError,
    finetune_embedding_model,
    gather_training_pairs,
)
from prosora_pipelines.lib.sample_corpus import sample_retrieval_set
from prosora_pipelines.lib.table_store import NotMaterializedError


@dg.asset(
    group_name="training",
    deps=[articles],
    # The model folder (weights and config) with its evaluation and the promotion, as JSON.
    kinds={"pytorch", "json"},
    owners=OWNERS,
    code_version="1",
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
)
@traced_materialization
def embedding_finetune(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    embedding_model: EmbeddingModelResource,
    embedding_finetune_config: EmbeddingFinetuneResource,
    app_database: AppDatabaseResource,
) -> dg.MaterializeResult[None]:
    """A fine-tune of the embedding model on this catalog's articles and the evidence of the
    user's well-received drafts, promoted only when it beats the model in use.

    Off unless ``PROSORA_FINETUNE_ENABLED`` is set: a run then records that it skipped. A
    promoted model is picked up by the next ``article_index`` run (the
    ``embedding_model_promoted`` sensor starts one), which fills the model's own table and
    switches readers to it when complete. Runs in the ``gpu`` pool.
    """
    if not embedding_finetune_config.enabled:
        return dg.MaterializeResult(
            metadata={"status": "off", "reason": "PROSORA_FINETUNE_ENABLED is not set"}
        )
    try:
        pairs = gather_training_pairs(storage.tables, app_database.sessions())
    except NotMaterializedError as exc:
        raise dg.Failure(str(exc)) from exc
    current = embedding_model.embedder()
    context.log.info(
        f"fine-tuning {current.info.model_id} ({current.info.version}) on {len(pairs)} pairs, "
        f"{current.info.device}"
    )

    def progress(step: int, steps: int) -> None:
        if step == steps or step % 10 == 0:
            context.log.info(f"step {step}/{steps}")

    def load_candidate(folder: Path) -> Embedder:
        return Embedder(str(folder), device=embedding_model.device)

    try:
        outcome = finetune_embedding_model(
            Path(storage.home),
            embedding_model.model,
            current,
            pairs,
            sample_retrieval_set(),
            embedding_finetune_config.config(),
            load_candidate=load_candidate,
            on_progress=progress,
        )
    except NotEnoughPairsError as exc:
        return dg.MaterializeResult(metadata={"status": "skipped", "reason": str(exc)})
    evaluation = outcome.evaluation
    return dg.MaterializeResult(
        metadata={
            "status": "promoted" if evaluation.promoted else "not promoted",
            "promoted": evaluation.promoted,
            "reason": evaluation.reason,
            "model_folder": dg.MetadataValue.path(str(outcome.folder)),
            "train_pairs": evaluation.train_pairs,
            "held_out_pairs": evaluation.held_out_pairs,
            "held_out_recall_at_10_before": round(evaluation.held_out_recall_base, 4),
            "held_out_recall_at_10_after": round(evaluation.held_out_recall_tuned, 4),
            "labelled_recall_at_10_before": round(evaluation.labelled_recall_base, 4),
            "labelled_recall_at_10_after": round(evaluation.labelled_recall_tuned, 4),
            "device": evaluation.device,
            "precision": evaluation.precision,
            "steps": evaluation.steps,
            "pairs_per_second": round(evaluation.pairs_per_second, 1),
        }
    )


reindex_job = dg.define_asset_job(
    name="reindex",
    selection=dg.AssetSelection.assets(article_index).downstream()
    - dg.AssetSelection.groups("training"),
    description="The article index and what is built from it, for a newly promoted model.",
)


@dg.asset_sensor(
    asset_key=embedding_finetune.key,
    job=reindex_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def embedding_model_promoted(
    context: dg.SensorEvaluationContext,  # noqa: ARG001  (Dagster passes it first)
    asset_event: dg.EventLogEntry,
) -> dg.RunRequest | dg.SkipReason:
    """Rebuilds the article index with a fine-tuned model as soon as one is promoted."""
    materialization = asset_event.asset_materialization
    metadata = materialization.metadata if materialization else {}
    promoted = metadata.get("promoted")
    if promoted is None or not promoted.value:
        return dg.SkipReason("the latest fine-tune was not promoted")
    folder = metadata["model_folder"].value
    return dg.RunRequest(run_key=str(folder), tags={"prosora/trigger": "embedding-promoted"})
