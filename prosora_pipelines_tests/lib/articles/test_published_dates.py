"""Why: recency ranking depends on knowing which dates are real; none may silently become now."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from prosora_pipelines.lib.articles.published_dates import DateStatus, plausible, resolve_published

FETCHED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SKEW = timedelta(hours=2)


def test_parsed_struct_time_is_utc() -> None:
    parsed = time.strptime("2026-11-01 08:30:00", "%Y-%m-%d %H:%M:%S")
    result = resolve_published(
        "Sun, 01 Nov 2026 08:30:00 GMT", parsed, fetched_at=FETCHED, allowed_skew=SKEW
    )
    assert result.status is DateStatus.OK
    assert result.at == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_offset_text_converted_to_utc_when_parser_gave_nothing() -> None:
    result = resolve_published(
        "2026-10-03T09:00:00-05:00", None, fetched_at=FETCHED, allowed_skew=SKEW
    )
    assert result.at == datetime(2026, 10, 3, 14, 0, tzinfo=UTC)


def test_missing_and_unparsable_are_flagged_not_now() -> None:
    missing = resolve_published(None, None, fetched_at=FETCHED, allowed_skew=SKEW)
    assert (missing.at, missing.status) == (None, DateStatus.MISSING)
    garbage = resolve_published("sometime last week", None, fetched_at=FETCHED, allowed_skew=SKEW)
    assert (garbage.at, garbage.status, garbage.raw) == (
        None,
        DateStatus.UNPARSABLE,
        "sometime last week",
    )


def test_future_beyond_skew_flagged_within_skew_kept() -> None:
    far = resolve_published("2031-01-01T00:00:00Z", None, fetched_at=FETCHED, allowed_skew=SKEW)
    assert (far.at, far.status) == (None, DateStatus.FUTURE)
    near = resolve_published("2026-11-20T13:00:00Z", None, fetched_at=FETCHED, allowed_skew=SKEW)
    assert near.status is DateStatus.OK


def test_dates_before_the_floor_are_implausible_and_dropped() -> None:
    floor = date(1990, 1, 1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert plausible(epoch, DateStatus.OK, earliest=floor) == (None, DateStatus.IMPLAUSIBLE)
    old = datetime(1900, 1, 1, tzinfo=UTC)
    assert plausible(old, DateStatus.OK, earliest=floor) == (None, DateStatus.IMPLAUSIBLE)
    recent = datetime(1990, 1, 1, 0, 30, tzinfo=UTC)
    assert plausible(recent, DateStatus.OK, earliest=floor) == (recent, DateStatus.OK)
    assert plausible(None, DateStatus.MISSING, earliest=floor) == (None, DateStatus.MISSING)
