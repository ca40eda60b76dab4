"""Request ids, JSON logs and Prometheus metrics: what an operator needs to follow the API.

Every request gets an id (``request_ids``), returned in the response and present on every
log line written while handling it.
Logs are JSON lines. Metrics live in a registry per app, so several apps in one process
(tests) never clash.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prosora_pipelines.api.errors import error_response
from prosora_pipelines.api.request_ids import (
    REQUEST_ID_HEADER,
    current_request_id,
    request_id_from,
    request_id_var,
)
from prosora_pipelines.lib.telemetry.tracing import span

access_log = logging.getLogger("prosora.api.access")
logger = logging.getLogger(__name__)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being handled."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: tracebacks can hold secrets and belong in a debugger, not logs.
            line["error_type"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.request_seconds = Histogram(
            "prosora_http_request_seconds",
            "HTTP request latency by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.generation_seconds = Histogram(
            "prosora_generation_seconds",
            "Time to answer a query (all five phases), by generator.",
            ["generator"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.generation_tokens = Counter(
            "prosora_generation_tokens",
            "LLM tokens spent answering queries, by generator and kind.",
            ["generator", "kind"],
            registry=self.registry,
        )
        self.retrieval_seconds = Histogram(
            "prosora_retrieval_seconds",
            "Evidence retrieval and search latency.",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=self.registry,
        )
        self.streams_in_flight = Gauge(
            "prosora_streams_in_flight", "Query event streams open now.", registry=self.registry
        )
        self.rate_limited = Counter(
            "prosora_rate_limit_rejections",
            "Requests refused by the rate limiter, by route.",
            ["route"],
            registry=self.registry,
        )


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` once a body without a declared length passes the limit. An
    ``HTTPException`` because FastAPI re-raises those from its body reading (any other error
    there becomes a 400 "error parsing the body"); the app's handler answers the 413."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"request body over {max_body_bytes} bytes")


class RequestContextMiddleware:
    """Request id, body size limit, access log and latency metrics for every request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        attributes = {"http.request.method": scope["method"], "prosora.request_id": request_id}
        with span(f"{scope['method']} request", **attributes) as traced:
            try:
                if self._declared_length(scope) > self.max_body_bytes:
                    await self._too_large(send_with_id)
                else:
                    try:
                        await self.app(scope, counted_receive, send_with_id)
                    except BodyTooLargeError:
                        if response_started:
                            raise
                        await self._too_large(send_with_id)
                    except Exception as error:
                        # Answered here rather than re-raised to the server, which would close
                        # the keep-alive connection and fail the client's next request on it.
                        if response_started:
                            raise
                        logger.error("unhandled %s", type(error).__name__, exc_info=error)
                        response = error_response(
                            500, "internal error; quote the request id when reporting it"
                        )
                        await response(scope, _no_receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", "unmatched")
                self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                    elapsed
                )
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    route,
                    status,
                    extra={
                        "fields": {"status": status, "route": route, "ms": round(elapsed * 1000, 2)}
                    },
                )
                if traced is not None:
                    traced.update_name(f"{scope['method']} {route}")
                    traced.set_attribute("http.route", route)
                    traced.set_attribute("http.response.status_code", status)
                request_id_var.reset(token)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _too_large(self, send: Send) -> None:
        response = error_response(413, f"request body over {self.max_body_bytes} bytes")
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
