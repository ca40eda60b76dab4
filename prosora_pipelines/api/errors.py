"""One error envelope for every failure the API reports, with the request id, and never a
stack trace or a secret:

    {"error": {"code": "not_found", "message": "...", "request_id": "...", "details": [...]}}
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from prosora_pipelines.api.request_ids import current_request_id
from prosora_pipelines.lib.appdb.engine import unavailability
from prosora_pipelines.lib.appdb.repository import InvalidInputError, NotFoundError, time_problem

logger = logging.getLogger(__name__)
DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_RETRY_AFTER_SECONDS = 5
"""What a 503 for an unavailable app database asks clients to wait: about as long as the
database timeouts, so a retry does not meet the same outage at once."""

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


COMMON_ERRORS = {
    401: "Missing or invalid token",
    422: "Invalid input",
    429: "Rate limit reached",
}


def common_error_responses() -> dict[int | str, dict[str, Any]]:
    """The errors any route may answer, as FastAPI's ``responses``."""
    return {
        status: {"model": ErrorEnvelope, "description": description}
        for status, description in COMMON_ERRORS.items()
    }


UNAVAILABLE = (
    "Unavailable: the app database is unreachable or too slow (code "
    "`database_unavailable`, with Retry-After), or, for queries and search, there "
    "is no usable article index (code `unavailable`)"
)
UNAVAILABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorEnvelope, "description": UNAVAILABLE}
}
"""For the routers whose routes use the app database (every authenticated one)."""


def json_error_responses() -> dict[int | str, dict[str, Any]]:
    """The same for a route whose success is not JSON (an event stream): FastAPI documents
    a response model under the route's own media type, but errors are the JSON envelope.
    Such a route uses the app database, so its 503 is listed too."""
    envelope = {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
    return {
        status: {"description": description, "content": {"application/json": envelope}}
        for status, description in {**COMMON_ERRORS, 503: UNAVAILABLE}.items()
    }


# The methods a 405's Allow header may name (the ones an API route can serve).
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path. Starlette's 405 names only
    the methods of the first route whose path matched, and each method is a route of its
    own; routes are asked through their public ``matches``, one method at a time."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


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
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.code = code


def database_unavailable_error(error: BaseException) -> ApiError | None:
    """The 503 for an error that says the app database is unreachable or did not answer in
    time (logged here, as one warning line), or None for any other error."""
    reason = unavailability(error)
    if reason is None:
        return None
    logger.warning("app database unavailable, answered 503: %s", reason)
    return ApiError(
        503,
        "the app database is unavailable; retry after the Retry-After seconds",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        code=DATABASE_UNAVAILABLE,
    )


def error_response(
    status: int,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(
        error=ErrorBody(
            code=code or STATUS_CODES.get(status, "error"),
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
        return error_response(error.status, error.message, error.details, error.headers, error.code)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def _database(request: Request, error: Exception) -> JSONResponse:
        unavailable = database_unavailable_error(error)
        if unavailable is None:
            raise error  # a fault of ours (a missing table, say): the 500 path logs it
        return await _api_error(request, unavailable)

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
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers) if error.headers else {}
        if error.status_code == 400:
            # The only 400s are FastAPI's and Starlette's for a body they cannot parse (not
            # UTF-8, broken multipart): invalid input like malformed JSON, so the same 422.
            return error_response(422, f"invalid request: the body cannot be read ({error.detail})")
        if error.status_code == 405 and (methods := allowed_methods(request)):
            headers["Allow"] = ", ".join(methods)
        return error_response(error.status_code, str(error.detail), headers=headers or None)
