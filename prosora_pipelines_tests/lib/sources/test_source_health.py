"""Why: source health is how an operator finds a broken feed; consecutive failures, last
success and last error must reflect the fetch log exactly, and 304s count as healthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from prosora_pipelines.lib.sources.catalog import Source
from prosora_pipelines.lib.sources.health import failing_sources, last_attempts, summarize_health
from prosora_pipelines.lib.sources.ingestion import FetchRecord, fetch_records_frame, sources_due

START = datetime(2026, 11, 1, tzinfo=UTC)


def _source(source_id: str, interval: timedelta = timedelta(hours=1)) -> Source:
    return Source(
        id=source_id,
        name=source_id,
        url=f"https://{source_id}.example/feed",
        kind="rss",  # type: ignore[arg-type]
        tier="standard",  # type: ignore[arg-type]
        credibility=0.7,
        domains=("tech",),
        refresh_interval=interval,
    )


def _record(
    source_id: str,
    hour: int,
    *,
    error: str | None = None,
    items: int = 5,
    not_modified: bool = False,
) -> FetchRecord:
    return FetchRecord(
        run_id=f"run-{hour}",
        source_id=source_id,
        url=f"https://{source_id}.example/feed",
        started_at=START + timedelta(hours=hour),
        elapsed_seconds=0.1,
        status=None if error else (304 if not_modified else 200),
        bytes_read=100,
        items=0 if error or not_modified else items,
        not_modified=not_modified,
        attempts=1,
        flavour="rss20",
        error_class=error,
        error_message="boom" if error else None,
    )


def test_health_counts_trailing_failures_and_last_success() -> None:
    log = fetch_records_frame(
        [
            _record("flaky", 0, items=4),
            _record("flaky", 1, error="ReadTimeout"),
            _record("flaky", 2, error="HTTPStatusFetchError"),
            _record("steady", 0, items=6),
            _record("steady", 1, not_modified=True),
        ]
    )
    health = summarize_health(log, [_source("flaky"), _source("steady"), _source("new")])
    rows = {row["source_id"]: row for row in health.iter_rows(named=True)}
    assert rows["flaky"]["consecutive_failures"] == 2
    assert rows["flaky"]["last_success_at"] == START
    assert rows["flaky"]["last_error"] == "HTTPStatusFetchError: boom"
    assert rows["flaky"]["failures"] == 2 and rows["flaky"]["fetches"] == 3
    assert rows["steady"]["consecutive_failures"] == 0
    assert rows["steady"]["not_modified"] == 1
    assert rows["steady"]["items_per_fetch"] == 6.0
    assert rows["new"]["fetches"] == 0 and rows["new"]["last_attempt_at"] is None


def test_sources_due_follow_refresh_intervals() -> None:
    log = fetch_records_frame([_record("hourly", 0), _record("daily", 0)])
    now = START + timedelta(hours=2)
    sources = [_source("hourly"), _source("daily", timedelta(days=1)), _source("never")]
    due = sources_due(sources, last_attempts(log), now)
    assert [s.id for s in due] == ["hourly", "never"]


def test_failing_sources_counts_only_enabled_sources_that_were_fetched() -> None:
    health = pl.DataFrame(
        {
            "source_id": ["ok", "down", "disabled-down", "never-fetched"],
            "enabled": [True, True, False, True],
            "fetches": [3, 2, 4, 0],
            "consecutive_failures": [0, 2, 4, 0],
        }
    )
    assert failing_sources(health) == (["down"], 2)
    assert failing_sources(health.filter(pl.col("fetches") == 0)) == ([], 0)
