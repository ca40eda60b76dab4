"""The embedding model resource. Heavy libraries load on first use, not with the definitions."""

from pathlib import Path

import dagster as dg

from prosora_pipelines.lib.index.embedding import Embedder, load_embedder
from prosora_pipelines.lib.index.embedding_models import model_for_writers
from prosora_pipelines.lib.index.finetuning import FinetuneConfig, Precision
from prosora_pipelines.settings import get_settings


class EmbeddingModelResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Which model embeds, where, and how many texts per batch (``PROSORA_EMBEDDING_*``).

    ``model`` is the configured model; what embeds is its promoted fine-tune when there is
    one under ``home`` (see ``lib/index/embedding_models.py``).
    """

    model: str
    home: str
    device: str
    batch_size: int
    precision: str

    def embedder(self) -> Embedder:
        """The process-wide model writers use now, loaded once per model."""
        return load_embedder(
            model_for_writers(Path(self.home), self.model), self.device, self.precision
        )


class EmbeddingFinetuneResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Whether and how the embedding model is fine-tuned (``PROSORA_FINETUNE_*``)."""

    enabled: bool
    epochs: int
    batch_size: int
    learning_rate: float
    max_steps: int | None
    precision: str

    def config(self) -> FinetuneConfig:
        precision: Precision = self.precision  # type: ignore[assignment]
        return FinetuneConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            precision=precision,
        )


@dg.definitions
def embedding_resources() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        resources={
            "embedding_model": EmbeddingModelResource(
                model=settings.embedding_model,
                home=str(settings.home),
                device=settings.embedding_device,
                batch_size=settings.embedding_batch_size,
                precision=settings.embedding_precision,
            ),
            "embedding_finetune_config": EmbeddingFinetuneResource(
                enabled=settings.finetune_enabled,
                epochs=settings.finetune_epochs,
                batch_size=settings.finetune_batch_size,
                learning_rate=settings.finetune_learning_rate,
                max_steps=settings.finetune_max_steps,
                precision=settings.finetune_precision,
            ),
        }
    )
