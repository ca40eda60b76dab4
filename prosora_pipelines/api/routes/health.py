"""Liveness, readiness and metrics, for orchestrators and Prometheus (no token needed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from prosora_pipelines.api.context import ApiContext
from prosora_pipelines.api.security import Context
from prosora_pipelines.lib.index.vector_store import ArticleIndex, read_manifest

# None of these routes is rate limited: orchestrators and Prometheus call them from a few
# addresses, often the same one as other clients, and a probe refused is a probe failed.
router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    problems: list[str]
    index_table: str | None = None
    embedding_model: str | None = None
    index_updated_at: datetime | None = None
    index_age_hours: float | None = None


@router.get("/health", response_model=Health, summary="The process is alive")
async def health() -> Health:
    # Async on purpose: liveness must not wait for a worker thread while requests hold them.
    return Health(status="ok")


def readiness(context: ApiContext) -> Readiness:
    """What /ready reports: database, vector store and index freshness."""
    problems: list[str] = []
    database_problem = context.database_probe.problem()
    if database_problem:
        problems.append(database_problem)
    if context.warming:
        problems.append("the query engine is still loading the embedding model")
    manifest = read_manifest(context.tables)
    details: dict[str, Any] = {}
    if manifest is None:
        problems.append("no article index yet: materialize article_index")
    else:
        age = (datetime.now(UTC) - manifest.updated_at).total_seconds() / 3600
        details = {
            "index_table": manifest.table,
            "embedding_model": f"{manifest.model_id}@{manifest.model_version}",
            "index_updated_at": manifest.updated_at,
            "index_age_hours": round(age, 2),
        }
        limit = context.settings.api_index_max_age_hours
        if age > limit:
            problems.append(f"article index is {age:.1f} h old, over the {limit:g} h limit")
        try:
            ArticleIndex.at(context.settings.storage_location()).open(manifest.table).count_rows()
        except Exception as error:  # any failure means not ready; the type says which
            problems.append(f"vector store unreadable ({type(error).__name__})")
    return Readiness(
        status="ready" if not problems else "unavailable", problems=problems, **details
    )


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Ready to serve: database reachable, index present and fresh",
    responses={503: {"model": Readiness, "description": "Not ready, with the reasons"}},
)
async def ready(context: Context) -> Response:
    # On the event loop's own threads, not the pool request handlers share: when the
    # database stops answering, those handlers hold the pool's threads for their timeouts,
    # and the probe must still answer within its budget.
    report = await asyncio.to_thread(readiness, context)
    return JSONResponse(
        report.model_dump(mode="json"), status_code=200 if not report.problems else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(context: Context) -> Response:
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)
