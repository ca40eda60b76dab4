"""The article index asset. Thin: chunking, encoding and LanceDB writes are in the library."""

import dagster as dg
import polars as pl

from prosora_pipelines.defs.articles.assets import articles
from prosora_pipelines.defs.embeddings.resources import EmbeddingModelResource, article_index_at
from prosora_pipelines.defs.metadata_tables import OWNERS, arrow_table_metadata
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.article_embedding import index_articles
from prosora_pipelines.lib.article_store import ARTICLES_TABLE
from prosora_pipelines.lib.vector_store import write_manifest


@dg.asset(
    group_name="embeddings",
    deps=[articles],
    kinds={"lancedb", "pytorch"},
    owners=OWNERS,
    code_version="1",
    pool="gpu",
    automation_condition=dg.AutomationCondition.eager(),
)
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
    frame = storage.tables.read_table(ARTICLES_TABLE)
    if frame is None:
        raise dg.Failure("articles has not been materialized yet")
    canonical = frame.filter(pl.col("duplicate_of").is_null())
    embedder = embedding_model.embedder()
    context.log.info(
        f"model {embedder.info.model_id} ({embedder.info.version}) on {embedder.info.device}, "
        f"{embedder.info.precision}, batch {embedding_model.batch_size}"
    )

    def progress(done: int, total: int) -> None:
        context.log.info(f"encoded {done}/{total} chunks")

    index = article_index_at(storage.home)
    report = index_articles(
        canonical,
        embedder,
        index,
        batch_size=embedding_model.batch_size,
        on_progress=progress,
    )
    write_manifest(storage.tables, report.manifest)
    table = index.open(report.manifest.table)
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
            "model": embedder.info.model_id,
            "model_version": embedder.info.version,
            "dimension": embedder.info.dimension,
            "device": embedder.info.device,
            "precision": embedder.info.precision,
            "index_coverage": report.coverage,
        }
    )
