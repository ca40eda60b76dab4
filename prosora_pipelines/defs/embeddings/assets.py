"""The article index asset. Thin: chunking, encoding and LanceDB writes are in the library."""

import dagster as dg

from prosora_pipelines.defs.articles.assets import articles
from prosora_pipelines.defs.embeddings.resources import EmbeddingModelResource
from prosora_pipelines.defs.metadata_tables import OWNERS, arrow_table_metadata
from prosora_pipelines.defs.step_queues import GPU_STEP_TAGS
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.defs.telemetry import traced_materialization
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.store import refresh_article_index
from prosora_pipelines.lib.table_store import NotMaterializedError


@dg.asset(
    group_name="embeddings",
    deps=[articles],
    kinds={"lancedb", "pytorch"},
    owners=OWNERS,
    code_version="1",
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
    automation_condition=dg.AutomationCondition.eager(),
)
@traced_materialization
def article_index(
    context: dg.AssetExecutionContext,
    storage: ProsoraStorage,
    embedding_model: EmbeddingModelResource,
) -> dg.MaterializeResult[None]:
    """Every canonical article, chunked to the model's token limit, embedded, in LanceDB.

    Incremental: only new or changed chunks are encoded, removed ones are deleted, and the
    vector and full-text indexes are refreshed so new rows are searchable. Each model
    version fills its own table; the manifest that readers follow switches to it only when
    it is complete. Runs in the ``gpu`` pool, on CUDA when present.
    """

    def load_embedder() -> Embedder:
        embedder = embedding_model.embedder()
        context.log.info(
            f"model {embedder.info.model_id} ({embedder.info.version}) on "
            f"{embedder.info.device}, {embedder.info.precision}, "
            f"batch {embedding_model.batch_size}"
        )
        return embedder

    def progress(done: int, total: int) -> None:
        context.log.info(f"encoded {done}/{total} chunks")

    index = storage.article_index()
    try:
        refresh = refresh_article_index(
            storage.tables,
            index,
            load_embedder=load_embedder,
            batch_size=embedding_model.batch_size,
            on_progress=progress,
        )
    except NotMaterializedError as exc:
        raise dg.Failure(str(exc)) from exc
    report, model, table = refresh.report, refresh.model, refresh.table
    rate = report.encoded / report.encode_seconds if report.encode_seconds else None
    return dg.MaterializeResult(
        metadata={
            **arrow_table_metadata(table.schema, table.count_rows(), index.uri),
            "articles": report.articles,
            "chunks": report.chunks,
            "encoded": report.encoded,
            "deleted": report.deleted,
            "encode_seconds": round(report.encode_seconds, 2),
            **({"chunks_per_second": round(rate, 1)} if rate else {}),
            "write_seconds": round(report.write_seconds, 2),
            "table": report.manifest.table,
            "model": model.model_id,
            "model_version": model.version,
            "dimension": model.dimension,
            "device": model.device,
            "precision": model.precision,
            "index_coverage": report.coverage,
        }
    )
