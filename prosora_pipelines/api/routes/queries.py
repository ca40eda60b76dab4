"""Queries: ask one (whole, or as a stream of events), read one, delete one, page through
the caller's history."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prosora_pipelines.api.context import ApiContext
from prosora_pipelines.api.errors import (
    UNAVAILABLE_RESPONSES,
    ApiError,
    check_time,
    database_unavailable_error,
    json_error_responses,
)
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.security import Context, CurrentCaller, GeneratingCaller, user_of
from prosora_pipelines.lib.appdb.date_times import DATE_TIME_TEXT
from prosora_pipelines.lib.appdb.models import Query as StoredQueryRow
from prosora_pipelines.lib.appdb.repository import (
    MAX_HISTORY_PAGE,
    ContentFormat,
    StorableText,
    delete_query,
    get_query,
    history_page,
    time_problem,
)
from prosora_pipelines.lib.index.vector_store import IndexUnavailableError
from prosora_pipelines.lib.query.engine import (
    MAX_QUERY_CHARACTERS,
    QueryFailedError,
    QueryOptions,
    QueryProgress,
)
from prosora_pipelines.lib.query.responses import QueryResult

router = APIRouter(prefix=API_PREFIX, tags=["queries"], responses=UNAVAILABLE_RESPONSES)
logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 15.0


class QueryRequest(BaseModel):
    """A question to answer, with optional options."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "AI regulation impact on fintech product strategy",
                    "options": {"formats": ["linkedin_post"], "variants_per_format": 3},
                }
            ]
        },
    )

    text: StorableText = Field(min_length=1, max_length=MAX_QUERY_CHARACTERS)
    options: QueryOptions = Field(default_factory=QueryOptions)

    @field_validator("options")
    @classmethod
    def _since_in_range(cls, options: QueryOptions) -> QueryOptions:
        problem = time_problem(options.since)
        if problem is not None:
            raise ValueError(f"since {problem}")
        return options


class StoredVariant(BaseModel):
    id: uuid.UUID
    position: int
    format: str
    text: str
    hook_type: str | None
    citations: list[dict[str, Any]]
    predicted_engagement: float | None
    prediction_reasons: list[str]
    model_version: str = Field(description="The generator that wrote the draft.")
    prediction_model_version: str | None = Field(
        description="The engagement model (or prior) that predicted it."
    )
    created_at: datetime


class StoredQuery(BaseModel):
    """A query as stored: what was asked, what was answered, and what produced it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    text: str
    status: str
    options: dict[str, Any]
    analysis: dict[str, Any]
    results: dict[str, Any]
    metrics: dict[str, Any]
    model_versions: dict[str, str]
    processing_time_ms: float
    created_at: datetime
    variants: list[StoredVariant]


class HistoryOut(BaseModel):
    queries: list[StoredQuery]
    next_cursor: str | None


def _stored(row: StoredQueryRow) -> StoredQuery:
    return StoredQuery.model_validate(
        {
            **{name: getattr(row, name) for name in StoredQuery.model_fields if name != "variants"},
            "variants": [
                StoredVariant.model_validate(variant, from_attributes=True)
                for variant in row.variants
            ],
        }
    )


def _answer(
    context: ApiContext,
    caller_id: uuid.UUID,
    body: QueryRequest,
    progress: QueryProgress | None = None,
) -> QueryResult:
    try:
        engine = context.query_engine()
    except IndexUnavailableError as error:
        raise ApiError(503, str(error)) from None
    started = time.perf_counter()
    try:
        result = engine.process_query(caller_id, body.text, body.options, progress)
    except QueryFailedError as error:
        if isinstance(error.__cause__, IndexUnavailableError):
            raise ApiError(
                503, f"{error.__cause__} (stored as failed query {error.query_id})"
            ) from None
        unavailable = database_unavailable_error(error.__cause__ or error)
        if unavailable is not None:
            raise unavailable from None
        logger.error("query %s failed", error.query_id, exc_info=error.__cause__)
        raise ApiError(
            500,
            f"the query failed and was stored as failed query {error.query_id}; "
            "quote the request id when reporting it",
        ) from None
    generator = result.model_versions.get("generator", "unknown")
    context.metrics.generation_seconds.labels(generator).observe(time.perf_counter() - started)
    context.metrics.retrieval_seconds.labels("evidence").observe(
        result.timings_ms.get("evidence", 0) / 1000
    )
    for kind, tokens in result.token_usage.items():
        if tokens:
            context.metrics.generation_tokens.labels(generator, kind).inc(tokens)
    return result


@router.post(
    "/queries",
    response_model=QueryResult,
    status_code=201,
    summary="Answer a query: analysis, evidence, drafts with predicted engagement",
)
def ask(body: QueryRequest, context: Context, caller: GeneratingCaller) -> QueryResult:
    return _answer(context, caller.id, body)


def _event(name: str, payload: Any) -> ServerSentEvent:
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    return ServerSentEvent(event=name, data=data)


@router.post(
    "/queries/stream",
    response_class=EventSourceResponse,
    responses=json_error_responses(),
    summary="Answer a query as Server-Sent Events",
    description=(
        "Events, in order: `analysis`, `evidence`, `answer` (the direct answer, for a question "
        "asked as a question), one `variant` per draft, then `done` (the whole stored result) "
        "or `error` (the error envelope). A comment line is sent as a "
        "heartbeat every 15 s of silence. When the client goes away before drafting, the "
        "drafting is skipped; the query is stored either way."
    ),
)
async def ask_streaming(
    body: QueryRequest, request: Request, context: Context, caller: GeneratingCaller
) -> AsyncIterator[ServerSentEvent]:
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def emit(name: str, payload: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (name, payload))

    progress = QueryProgress(emit=emit, cancel=threading.Event())

    def run() -> None:
        try:
            result = _answer(context, caller.id, body, progress)
        except ApiError as error:
            emit("error", {"status": error.status, "message": error.message})
        except Exception as error:  # reported as an error event; the details go to the log
            unavailable = database_unavailable_error(error)
            if unavailable is not None:
                emit("error", {"status": unavailable.status, "message": unavailable.message})
                return
            logger.error("query stream failed", exc_info=error)
            emit("error", {"status": 500, "message": f"internal error ({type(error).__name__})"})
        else:
            emit("done", result)

    worker = asyncio.ensure_future(run_in_threadpool(run))
    context.metrics.streams_in_flight.inc()
    try:
        while True:
            if await request.is_disconnected():
                progress.cancel.set()
                break
            try:
                name, payload = await asyncio.wait_for(events.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ServerSentEvent(comment="heartbeat")
                continue
            yield _event(name, payload)
            if name in ("done", "error"):
                break
    finally:
        progress.cancel.set()
        context.metrics.streams_in_flight.dec()
        await asyncio.shield(worker)


@router.get(
    "/queries/{query_id:uuid}",
    response_model=StoredQuery,
    summary="One of your queries, as stored",
    responses={404: {"description": "No such query of yours"}},
)
def read_query(query_id: uuid.UUID, context: Context, caller: CurrentCaller) -> StoredQuery:
    with context.reads() as session:
        return _stored(get_query(session, user_of(session, caller), query_id))


@router.delete(
    "/queries/{query_id:uuid}",
    status_code=204,
    response_class=Response,
    summary="Delete one of your queries, its variants and their feedback",
    responses={404: {"description": "No such query of yours"}},
)
def remove_query(query_id: uuid.UUID, context: Context, caller: CurrentCaller) -> Response:
    with context.sessions.begin() as session:
        delete_query(session, user_of(session, caller), query_id)
    return Response(status_code=204)


@router.get(
    "/users/me/history",
    response_model=HistoryOut,
    summary="Your queries, newest first, a page at a time",
)
def history(
    context: Context,
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    format: ContentFormat | None = None,
    since: Annotated[
        Annotated[datetime, DATE_TIME_TEXT] | None,
        Query(description="Created at or after this time."),
    ] = None,
    until: Annotated[
        Annotated[datetime, DATE_TIME_TEXT] | None,
        Query(description="Created before this time; not after `since` means no queries."),
    ] = None,
) -> HistoryOut:
    check_time("since", since)
    check_time("until", until)
    with context.reads() as session:
        page = history_page(
            session,
            user_of(session, caller),
            limit=limit,
            cursor=cursor,
            format=format,
            since=since,
            until=until,
        )
        return HistoryOut(
            queries=[_stored(row) for row in page.queries], next_cursor=page.next_cursor
        )
