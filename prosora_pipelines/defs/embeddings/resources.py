"""The embedding model resource. Heavy libraries load on first use, not with the definitions."""

import dagster as dg

from prosora_pipelines.lib.index.embedding import Embedder, load_embedder
from prosora_pipelines.settings import get_settings


class EmbeddingModelResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Which model embeds, where, and how many texts per batch (``PROSORA_EMBEDDING_*``)."""

    model: str
    device: str
    batch_size: int
    precision: str

    def embedder(self) -> Embedder:
        """The process-wide model for this configuration, loaded once."""
        return load_embedder(self.model, self.device, self.precision)


@dg.definitions
def embedding_resources() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        resources={
            "embedding_model": EmbeddingModelResource(
                model=settings.embedding_model,
                device=settings.embedding_device,
                batch_size=settings.embedding_batch_size,
                precision=settings.embedding_precision,
            )
        }
    )
