"""Why: a failed pipeline run must reach Sentry as one event an operator can act on (job,
run, failing steps, error types) without the error's message, which can quote feed text or
a URL with a token; and each asset materialization must be a span when tracing is on."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
import sentry_sdk
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from prosora_pipelines.definitions import defs
from prosora_pipelines.defs.telemetry import failed_runs_to_sentry
from prosora_pipelines.lib.telemetry.tracing import start_tracing, stop_tracing
from prosora_pipelines.settings import get_settings
from prosora_pipelines.telemetry import start_telemetry
from prosora_pipelines_tests.support.sentry_server import SentryServer

SECRET_IN_MESSAGE = "https://feeds.example/private?token=sk-live-SECRET"


@dg.op
def fetch_private_feed() -> None:
    raise ValueError(f"could not read {SECRET_IN_MESSAGE}")


@dg.job
def failing_job() -> None:
    fetch_private_feed()


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[SentryServer]:
    with SentryServer() as server:
        monkeypatch.setenv("SENTRY_DSN", server.dsn)
        get_settings.cache_clear()
        start_telemetry(get_settings(), "dagster")
        yield server
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_a_failed_run_is_one_scrubbed_sentry_event(sentry: SentryServer) -> None:
    assert "failed_runs_to_sentry" in {sensor.name for sensor in defs().sensors or []}
    with dg.DagsterInstance.ephemeral() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="failed_runs_to_sentry",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        failed_runs_to_sentry(context)
    sentry_sdk.flush(timeout=10)

    [event] = sentry.events()
    assert event["message"] == "Dagster run of failing_job failed"
    assert event["tags"]["dagster.job"] == "failing_job"
    assert event["tags"]["dagster.run_id"] == result.run_id
    assert event["tags"]["dagster.steps"] == "fetch_private_feed"
    assert event["contexts"]["dagster"]["error_types"] == ["ValueError"]
    raw = b"".join(envelope.raw for envelope in sentry.envelopes)
    assert b"sk-live-SECRET" not in raw and b"feeds.example" not in raw


def test_no_dsn_means_no_failure_sensor() -> None:
    assert "failed_runs_to_sentry" not in {sensor.name for sensor in defs().sensors or []}


def test_each_asset_materialization_is_a_span() -> None:
    exporter = InMemorySpanExporter()
    start_tracing("dagster", exporter=exporter)
    try:
        result = (
            defs()
            .resolve_implicit_global_asset_job_def()
            .execute_in_process(asset_selection=[dg.AssetKey("source_catalog")])
        )
    finally:
        stop_tracing()
    assert result.success
    [span] = [s for s in exporter.get_finished_spans() if s.name == "materialize source_catalog"]
    assert span.attributes is not None and span.attributes["dagster.run_id"] == result.run_id
