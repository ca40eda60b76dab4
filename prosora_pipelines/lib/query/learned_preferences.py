"""Phase 5, the read side of learning: active learning patterns steer what is generated.

The learning pipeline writes one pattern per user × feature value (the row contract is in
``lib.engagement.patterns``: ``pattern_type`` a feature of ``lib.engagement.features``,
``pattern_data`` with its ``value`` and multiplicative ``lift``). The engine reads the active
ones that apply to the user and steers by these features:

- ``hook_type``: hooks are tried in order of lift (hooks without a pattern count as 1.0, ties
  keep the default order), so when fewer variants are asked for than there are hooks the
  ones that work are kept, and variants are listed in that order.
- ``length_band``: drafts aim at the band (``features.LENGTH_BANDS`` of their format).
- ``hashtag_band``: LinkedIn posts carry ``HASHTAGS_FOR_BAND`` hashtags.
- ``has_link``: LinkedIn posts end with a link to their first source, or carry none.
- ``posted_weekday`` and ``posted_hour_band``: the drafts get a suggested posting time
  (``suggested_posting_time``).

For each of the last five, only effects that help are followed: the value with the largest
lift above 1.0. Patterns with a lift below 1.0 still inform the hook order; a pattern of
another feature (``format``, ``reading_band``, ...), or one whose data this reader does not
understand, is left unused and reported as such, never guessed at. ``shaped_by`` says which
patterns a finished draft actually follows, judged from the draft's own features, so a
pattern the generator could not honour for a draft is not claimed for it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from prosora_pipelines.lib.appdb.repository import CONTENT_FORMATS
from prosora_pipelines.lib.engagement.features import (
    LENGTH_BANDS,
    WEEKDAYS,
    pattern_values,
    post_features,
    timezone,
)
from prosora_pipelines.lib.query.drafts import HOOK_TYPES, LINKEDIN_MAX_CHARACTERS, Draft, HookType
from prosora_pipelines.lib.query.generation import DraftShape

SHAPE_FEATURES = ("length_band", "hashtag_band", "has_link")
TIME_FEATURES = ("posted_weekday", "posted_hour_band")
STEERING_FEATURES = ("hook_type", *SHAPE_FEATURES, *TIME_FEATURES)
VALUES: Mapping[str, tuple[str, ...]] = {
    "hook_type": HOOK_TYPES,
    "length_band": ("short", "medium", "long"),
    "hashtag_band": ("0", "1-3", "4+"),
    "has_link": ("yes", "no"),
    "posted_weekday": WEEKDAYS,
    "posted_hour_band": ("night", "morning", "afternoon", "evening"),
}
HASHTAGS_FOR_BAND: Mapping[str, int] = {"0": 0, "1-3": 3, "4+": 5}
"""How many hashtags a LinkedIn post gets for a band: the most the band allows (5 is the
format's limit), since the generator can only make as many as the query has terms."""
SUGGESTED_HOUR: Mapping[str, int] = {"night": 3, "morning": 9, "afternoon": 14, "evening": 19}
"""The hour suggested within a band: one near its middle (a convention, not learned). With
a weekday pattern and no hour pattern, the morning's hour is suggested."""
LONGEST_DRAFT = LINKEDIN_MAX_CHARACTERS


class PatternRow(Protocol):
    id: uuid.UUID
    pattern_type: str
    pattern_data: dict[str, Any]
    confidence: float


@dataclass(frozen=True)
class AppliedPattern:
    """A pattern the engine follows: which feature value, and its lift."""

    id: uuid.UUID
    pattern_type: str
    value: str
    lift: float

    def describe(self) -> str:
        return f"{self.pattern_type}={self.value} ({self.lift - 1:+.0%})"


@dataclass(frozen=True)
class Preferences:
    """What the user's active patterns ask for (see the module docstring)."""

    hook_order: tuple[HookType, ...]
    hook_patterns: Mapping[str, AppliedPattern] = field(default_factory=dict)
    # feature → the pattern whose value is followed, for SHAPE_FEATURES and TIME_FEATURES.
    chosen: Mapping[str, AppliedPattern] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    @property
    def applied(self) -> tuple[uuid.UUID, ...]:
        """Every pattern that steers this query's drafts, hook patterns first."""
        return tuple(
            pattern.id for pattern in [*self.hook_patterns.values(), *self.chosen.values()]
        )

    def shape(self) -> DraftShape:
        """The draft shape the chosen patterns ask for."""
        length = self.chosen.get("length_band")
        hashtags = self.chosen.get("hashtag_band")
        link = self.chosen.get("has_link")
        return DraftShape(
            characters={
                fmt: _band_characters(LENGTH_BANDS[fmt], length.value) for fmt in CONTENT_FORMATS
            }
            if length is not None
            else {},
            hashtags=HASHTAGS_FOR_BAND[hashtags.value] if hashtags is not None else None,
            link=(link.value == "yes") if link is not None else None,
        )

    def posting_time(self, now: datetime, timezone_name: str | None) -> datetime | None:
        """The next time, after ``now``, on the weekday and in the hour band the patterns
        favour, in the user's timezone; None without a time pattern."""
        weekday = self.chosen.get("posted_weekday")
        band = self.chosen.get("posted_hour_band")
        if weekday is None and band is None:
            return None
        local_now = now.astimezone(timezone(timezone_name))
        hour = SUGGESTED_HOUR[band.value if band is not None else "morning"]
        for days_ahead in range(8):
            day = (local_now + timedelta(days=days_ahead)).date()
            if weekday is not None and WEEKDAYS[day.weekday()] != weekday.value:
                continue
            candidate = datetime(day.year, day.month, day.day, hour, tzinfo=local_now.tzinfo)
            if candidate > local_now:
                return candidate
        raise AssertionError("a week always holds the weekday")  # pragma: no cover

    def shaped_by(
        self, draft: Draft, posting_time: datetime | None, timezone_name: str | None
    ) -> tuple[AppliedPattern, ...]:
        """The followed patterns that ``draft`` (posted at ``posting_time``) matches."""
        values = pattern_values(
            post_features(
                draft.text, draft.format, draft.hook_type, [], [], posting_time, timezone_name
            )
        )
        hook = self.hook_patterns.get(draft.hook_type)
        matched = [hook] if hook is not None and hook.lift > 1 else []
        matched += [
            pattern
            for feature, pattern in self.chosen.items()
            if values.get(feature) == pattern.value
        ]
        return tuple(matched)


def _band_characters(bounds: tuple[int, int], band: str) -> tuple[int, int]:
    medium, long = bounds
    return {"short": (1, medium - 1), "medium": (medium, long - 1), "long": (long, LONGEST_DRAFT)}[
        band
    ]


def _understood(pattern: PatternRow) -> AppliedPattern | None:
    if pattern.pattern_type not in STEERING_FEATURES:
        return None
    value = pattern.pattern_data.get("value")
    lift = pattern.pattern_data.get("lift")
    if value not in VALUES[pattern.pattern_type]:
        return None
    if not isinstance(lift, int | float) or isinstance(lift, bool) or not math.isfinite(lift):
        return None
    if lift <= 0:
        return None
    return AppliedPattern(pattern.id, pattern.pattern_type, str(value), float(lift))


def preferences(patterns: Sequence[PatternRow]) -> Preferences:
    """What the active ``patterns`` ask for (see the module docstring). Where two patterns
    name the same feature value (the user's and a global one), the first wins: the caller
    passes the user's own first."""
    by_value: dict[tuple[str, str], AppliedPattern] = {}
    ignored: list[str] = []
    for pattern in patterns:
        understood = _understood(pattern)
        if understood is None:
            ignored.append(f"{pattern.id} ({pattern.pattern_type})")
            continue
        by_value.setdefault((understood.pattern_type, understood.value), understood)
    hook_patterns = {
        value: pattern for (feature, value), pattern in by_value.items() if feature == "hook_type"
    }

    def hook_lift(hook: HookType) -> float:
        pattern = hook_patterns.get(hook)
        return pattern.lift if pattern is not None else 1.0

    order = sorted(HOOK_TYPES, key=lambda hook: (-hook_lift(hook), HOOK_TYPES.index(hook)))
    chosen: dict[str, AppliedPattern] = {}
    for feature in (*SHAPE_FEATURES, *TIME_FEATURES):
        helping = [
            pattern
            for (name, _), pattern in by_value.items()
            if name == feature and pattern.lift > 1
        ]
        if helping:
            chosen[feature] = max(helping, key=lambda p: (p.lift, -VALUES[feature].index(p.value)))
    return Preferences(
        hook_order=tuple(order),
        hook_patterns=hook_patterns,
        chosen=chosen,
        ignored=tuple(ignored),
    )
