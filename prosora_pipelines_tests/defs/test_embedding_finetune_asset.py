"""Why: the embedding fine-tune is off unless asked for and must say so rather than train; it
belongs to the learning job, never to the hourly ingest; and once a fine-tune is promoted the
index must be rebuilt with it without anyone starting a run, while a rejected one changes
nothing. (Training itself is proven in lib/index/test_embedding_finetune.py.)"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from prosora_pipelines.definitions import defs
from prosora_pipelines.defs.embeddings.finetune import embedding_finetune, embedding_model_promoted
from prosora_pipelines.defs.embeddings.resources import (
    EmbeddingFinetuneResource,
    EmbeddingModelResource,
)
from prosora_pipelines.defs.engagement.resources import AppDatabaseResource
from prosora_pipelines.defs.storage import ProsoraStorage

OFF = EmbeddingFinetuneResource(
    enabled=False, epochs=1, batch_size=32, learning_rate=2e-5, max_steps=None, precision="auto"
)


def test_off_by_default_it_records_that_it_skipped_without_loading_anything(tmp_path: Path) -> None:
    result = dg.materialize(
        [embedding_finetune],
        resources={
            "storage": ProsoraStorage(home=str(tmp_path)),
            "embedding_model": EmbeddingModelResource(
                model="all-MiniLM-L6-v2",
                home=str(tmp_path),
                device="cpu",
                batch_size=8,
                precision="fp32",
            ),
            "embedding_finetune_config": OFF,
            "app_database": AppDatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
        },
        selection=[embedding_finetune],
    )
    metadata = result.asset_materializations_for_node("embedding_finetune")[0].metadata
    assert metadata["status"].value == "off"
    assert not (tmp_path / "models").exists()


def test_training_runs_with_learning_never_with_the_hourly_ingest() -> None:
    definitions = defs()
    key = embedding_finetune.key
    assert key not in definitions.resolve_job_def("ingest").asset_layer.executable_asset_keys
    assert (
        key not in definitions.resolve_job_def("ingest_on_celery").asset_layer.executable_asset_keys
    )
    assert key in definitions.resolve_job_def("engagement").asset_layer.executable_asset_keys
    reindexed = definitions.resolve_job_def("reindex").asset_layer.executable_asset_keys
    assert dg.AssetKey("article_index") in reindexed and key not in reindexed


def _evaluate(instance: dg.DagsterInstance) -> list[object]:
    with dg.build_sensor_context(instance=instance, definitions=defs()) as context:
        return list(embedding_model_promoted(context))  # type: ignore[arg-type]


def test_a_promoted_fine_tune_starts_the_reindex_once_and_a_rejected_one_nothing() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=embedding_finetune.key,
                metadata={"promoted": False, "reason": "held-out recall fell"},
            )
        )
        [rejected] = _evaluate(instance)
        assert isinstance(rejected, dg.SkipReason)

        folder = "/home/prosora/models/embedding-finetunes/abc-ft-1"
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=embedding_finetune.key,
                metadata={"promoted": True, "model_folder": dg.MetadataValue.path(folder)},
            )
        )
        [promoted] = _evaluate(instance)
        assert isinstance(promoted, dg.RunRequest)
        assert promoted.run_key == folder
        assert promoted.job_name in (None, "reindex")
