"""OpenTelemetry spans for API requests (down to the database, LanceDB and the LLM call)
and for asset materializations, exported over OTLP when an endpoint is configured.

Until :func:`start_tracing` runs, :func:`span` is a no-op that imports nothing: the
OpenTelemetry SDK costs a cold start tens of modules, which a CLI command or a test that
traces nothing should not pay. Span attributes name what ran (route, table, provider,
statement verb), never a user's text or a statement's parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer
    from sqlalchemy.engine import Engine

TRACER_NAME = "prosora_pipelines"
_tracer: Tracer | None = None


def start_tracing(
    service: str, *, endpoint: str | None = None, exporter: SpanExporter | None = None
) -> None:
    """Trace this process: spans go to the OTLP/HTTP collector at ``endpoint`` in batches,
    or straight to ``exporter`` (tests). Call once, at the process's edge."""
    global _tracer
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        traces_url = f"{endpoint.rstrip('/')}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    _tracer = provider.get_tracer(TRACER_NAME)


def stop_tracing() -> None:
    """Stop making spans (tests; a process ends without it)."""
    global _tracer
    _tracer = None


def tracing_enabled() -> bool:
    return _tracer is not None


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[Any]:
    """A span named ``name`` around the block, child of the current one; the span (or
    ``None`` when tracing is off) for attributes known only later. An exception leaving
    the block marks the span failed and records its type."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False
    ) as current:
        try:
            yield current
        except BaseException as error:
            from opentelemetry.trace import Status, StatusCode

            current.set_status(Status(StatusCode.ERROR, type(error).__name__))
            current.set_attribute("error.type", type(error).__name__)
            raise


def trace_database(engine: Engine) -> None:
    """A span for each statement ``engine`` runs: its verb and the database system only."""
    if _tracer is None:
        return
    from sqlalchemy import event

    tracer = _tracer

    def started(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        context._prosora_span = tracer.start_span(
            f"db {verb}", attributes={"db.system": engine.dialect.name, "db.operation": verb}
        )

    def finished(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        current = getattr(context, "_prosora_span", None)
        if current is not None:
            current.end()

    def failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        current = getattr(context, "_prosora_span", None) if context is not None else None
        if current is not None:
            from opentelemetry.trace import Status, StatusCode

            error_type = type(exception_context.original_exception).__name__
            current.set_status(Status(StatusCode.ERROR, error_type))
            current.end()

    event.listen(engine, "before_cursor_execute", started)
    event.listen(engine, "after_cursor_execute", finished)
    event.listen(engine, "handle_error", failed)
