"""Gauges of what the API stands on, computed when Prometheus scrapes ``/metrics``: whether
it is ready, how old the article index is, what share of sources is failing, how long
feedback has waited to be learned from, and whether the LLM circuit breaker is open.

Read at scrape time rather than kept up to date by the pipelines: the pipelines run in
other processes (run workers, containers, pods) that Prometheus does not scrape, and what
they leave behind (the index manifest, the source health table, the app database) is what
the alerts in deploy/prometheus/alerts.yml are about.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from prosora_pipelines.api.context import ApiContext
from prosora_pipelines.api.routes.health import readiness
from prosora_pipelines.lib.appdb.repository import oldest_unlearned_feedback
from prosora_pipelines.lib.index.vector_store import read_manifest
from prosora_pipelines.lib.llm.resilience import ResilientChatClient
from prosora_pipelines.lib.query.llm_drafting import LLMDraftGenerator
from prosora_pipelines.lib.sources.health import failing_sources
from prosora_pipelines.lib.table_names import SOURCE_HEALTH_TABLE

log = logging.getLogger(__name__)


class PipelineStateCollector(Collector):
    """One scrape reads the index manifest, the source health table, two aggregates of
    the app database and the readiness checks; a part that cannot be read is left out of
    that scrape (and logged), so the others still report."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = readiness(self.context)
        yield GaugeMetricFamily(
            "prosora_ready",
            "1 when /ready answers 200 (database reachable, index present and fresh).",
            value=0 if report.problems else 1,
        )
        manifest = read_manifest(self.context.tables)
        if manifest is not None:
            yield GaugeMetricFamily(
                "prosora_index_updated_timestamp_seconds",
                "When the article index the API searches was last written (Unix time).",
                value=manifest.updated_at.timestamp(),
            )
        health = self.context.tables.read_table(SOURCE_HEALTH_TABLE)
        if health is not None:
            failing, attempted = failing_sources(health)
            yield GaugeMetricFamily(
                "prosora_sources_failing_ratio",
                "Share of fetched enabled sources whose latest fetch failed (0 to 1).",
                value=len(failing) / attempted if attempted else 0.0,
            )
        yield from self._learning()
        breaker = self._breaker_open()
        if breaker is not None:
            yield GaugeMetricFamily(
                "prosora_llm_circuit_open",
                "1 while the LLM provider's circuit breaker refuses calls in this process.",
                value=1 if breaker else 0,
            )

    def _learning(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.context.reads() as session:
                waiting_since = oldest_unlearned_feedback(session)
        except SQLAlchemyError as error:
            log.warning(
                "learning gauge skipped: app database unreadable (%s)", type(error).__name__
            )
            return
        if waiting_since is not None:
            yield GaugeMetricFamily(
                "prosora_feedback_unlearned_since_timestamp_seconds",
                "When the oldest feedback not yet learned from was recorded (Unix time).",
                value=waiting_since.timestamp(),
            )

    def _breaker_open(self) -> bool | None:
        """The breaker's state, or None when this process has no LLM client (the
        extractive generator, or an engine not built yet)."""
        engine = self.context.built_query_engine
        if engine is None or not isinstance(engine.generator, LLMDraftGenerator):
            return None
        client = engine.generator.client
        return client.breaker.is_open if isinstance(client, ResilientChatClient) else None
