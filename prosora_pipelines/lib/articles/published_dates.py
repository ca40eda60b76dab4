"""Published dates as UTC instants, with an explicit status instead of a silent "now".

Feeds omit dates, misspell them, put them years in the future or decades in the past
(``1900-01-01``, a zero timestamp). Ranking by recency and choosing the earliest copy of a
story depend on knowing which dates are real, so every date carries a status.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from dateutil import parser as date_parser


class DateStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    UNPARSABLE = "unparsable"
    FUTURE = "future"
    IMPLAUSIBLE = "implausible"


@dataclass(frozen=True)
class PublishedDate:
    """A published instant (``None`` unless the status is ``ok``) and the text it came from."""

    at: datetime | None
    status: DateStatus
    raw: str | None


def from_struct_time(value: time.struct_time) -> datetime:
    """feedparser's parsed dates are UTC struct_times."""
    return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)


def parse_date_text(text: str) -> datetime | None:
    """Parse a free-form date; naive values are taken as UTC. ``None`` when it is not a date."""
    try:
        parsed = date_parser.parse(text, fuzzy=False)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resolve_published(
    raw: str | None,
    parsed: time.struct_time | None,
    *,
    fetched_at: datetime,
    allowed_skew: timedelta,
) -> PublishedDate:
    """Decide the published instant of an entry from what the parser and the feed give."""
    raw = raw.strip() if raw else None
    at: datetime | None = None
    if parsed is not None:
        try:
            at = from_struct_time(parsed)
        except (OverflowError, ValueError, OSError):
            at = None
    if at is None and raw:
        at = parse_date_text(raw)
    if at is None:
        return PublishedDate(None, DateStatus.UNPARSABLE if raw else DateStatus.MISSING, raw)
    if at > fetched_at + allowed_skew:
        return PublishedDate(None, DateStatus.FUTURE, raw or at.isoformat())
    return PublishedDate(at, DateStatus.OK, raw)


def plausible(
    at: datetime | None, status: DateStatus, *, earliest: date
) -> tuple[datetime | None, DateStatus]:
    """An ``ok`` date before ``earliest`` becomes ``implausible`` and is dropped.

    Applied when articles are built rather than when feeds are parsed, so raw entries keep
    the date as published and a changed floor takes effect without fetching again.
    """
    if at is not None and status is DateStatus.OK and at.astimezone(UTC).date() < earliest:
        return None, DateStatus.IMPLAUSIBLE
    return at, status
