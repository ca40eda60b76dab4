"""One error envelope for every failure the API reports, with the request id, and never a
stack trace or a secret:

    {"error": {"code": "not_found", "message": "...", "request_id": "...", "details": [...]}}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from prosora_pipelines.api.request_ids import current_request_id
from prosora_pipelines.lib.appdb.repository import InvalidInputError, NotFoundError

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str
    details: list[Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# Times the layers below can filter on and store: the article index's SQL filters need a
# four-digit year, and the app database converts to UTC, which overflows at the edges.
EARLIEST_TIME = datetime(1000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def time_problem(value: datetime | None) -> str | None:
    """Why ``value`` cannot be used as a time filter or stored, or None when it can."""
    if value is None:
        return None
    if value.utcoffset() is None:
        return "needs a timezone (e.g. 2026-11-01T00:00:00Z)"
    if not EARLIEST_TIME <= value < LATEST_TIME:
        return "must lie in the years 1000 to 9998"
    return None


def check_time(name: str, value: datetime | None) -> None:
    """Refuse (422) a time parameter the API cannot use (see ``time_problem``)."""
    problem = time_problem(value)
    if problem is not None:
        raise ApiError(422, f"invalid request: {name} {problem}")


class ApiError(Exception):
    """An error the API answers on purpose, with its status and a message safe to show."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(
        error=ErrorBody(
            code=STATUS_CODES.get(status, "error"),
            message=message,
            request_id=current_request_id(),
            details=details,
        )
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers or None
    )


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in problem["loc"]), "problem": problem["msg"]}
        for problem in error.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Route every expected exception to the envelope (unexpected ones are answered by
    ``observability.RequestContextMiddleware``)."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.details, error.headers)

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, error: NotFoundError) -> JSONResponse:
        return error_response(404, str(error))

    @app.exception_handler(InvalidInputError)
    async def _invalid(_request: Request, error: InvalidInputError) -> JSONResponse:
        details = getattr(error, "errors", None)
        return error_response(422, str(error), list(details) if details else None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = _validation_details(error)
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
        return error_response(422, f"invalid request: {summary}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers) if error.headers else None
        return error_response(error.status_code, str(error.detail), headers=headers)
