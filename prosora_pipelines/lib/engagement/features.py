"""The features of a post that learning and prediction look at, defined once.

Training (``engagement_observations``, ``learning_patterns``, ``engagement_model``) and
prediction (the engine, the API) both call ``post_features`` on the same plain inputs, so a
feature can never mean one thing when learned and another when applied. The inputs are what
every post has, whether Prosora drafted it or it was imported: its text and format, the hook
type when known, the domains of the query it answered, the tiers of the sources it cites,
when it was posted and the user's timezone.

Each feature, its value, and the pattern key it gives (``pattern_values``):

- ``format``: ``linkedin_post``, ``x_thread``, ``blog_outline``; key: the format.
- ``hook_type``: the drafting hook (``data``, ``story``, ...), ``none`` when unknown.
- ``first_line_question``: the first line ends with ``?``; key ``yes``/``no``.
- ``first_line_number``: the first line holds a figure (citation markers and thread
  numbering aside); key ``yes``/``no``.
- ``length_chars``: characters of the text; key ``length_band``: ``short``, ``medium`` or
  ``long`` against the format's ``LENGTH_BANDS``.
- ``hashtag_count``: ``#words``; key ``hashtag_band``: ``0``, ``1-3``, ``4+``.
- ``link_count``: ``http(s)://`` links; key ``has_link``: ``yes``/``no``.
- ``emoji_count``: pictographic characters; key ``has_emoji``: ``yes``/``no``.
- ``mention_count``: ``@handles``; key ``has_mention``: ``yes``/``no``.
- ``reading_grade``: Flesch-Kincaid grade level (syllables counted by vowel groups); key
  ``reading_band``: ``easy`` (< 9), ``medium`` (< 13), ``hard``.
- ``query_domain``: the query's heaviest domain, ``none`` without one; key: the domain.
- ``premium_share``: share of cited sources in the ``premium`` tier, None when nothing is
  cited; key ``premium_band``: ``none_cited``, ``low`` (< 1/3), ``mid`` (< 2/3), ``high``.
- ``posted_weekday``: ``mon`` .. ``sun`` in the user's timezone (UTC without one), None
  when not posted; key: the weekday.
- ``posted_hour``: 0-23 in that timezone, None when not posted; key ``posted_hour_band``:
  ``night`` (0-5), ``morning`` (6-11), ``afternoon`` (12-16), ``evening`` (17-23).

The text embedding a model may use beside these features is of ``embedding_text(text)``,
the post's opening: what a reader sees before "see more", and a fraction of the cost of
embedding a long post whole.

A draft not yet posted has no posting time: its time features are None and it has no time
pattern keys, which is how the engine asks "what if it were posted then?" (pass the time).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LENGTH_BANDS: Mapping[str, tuple[int, int]] = {
    "linkedin_post": (700, 1500),
    "x_thread": (500, 1200),
    "blog_outline": (1000, 2200),
}
"""Per format, the character counts where ``medium`` starts and ``long`` starts: formats are
read differently, so one cut for all would call every outline long."""
DEFAULT_LENGTH_BANDS = (700, 1500)
EMBEDDED_CHARACTERS = 400
"""How much of a post's opening its text embedding covers."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NO_HOOK = "none"
NO_DOMAIN = "none"
PREMIUM_TIER = "premium"

PATTERN_FEATURES = (
    "format",
    "hook_type",
    "first_line_question",
    "first_line_number",
    "length_band",
    "hashtag_band",
    "has_link",
    "has_emoji",
    "has_mention",
    "reading_band",
    "query_domain",
    "premium_band",
    "posted_weekday",
    "posted_hour_band",
)
"""The categorical pattern keys, in the order reports list them; learning patterns use
these names as ``pattern_type``."""
NUMERIC_FEATURES = (
    "length_chars",
    "hashtag_count",
    "link_count",
    "emoji_count",
    "mention_count",
    "reading_grade",
    "premium_share",
)
"""The measured features a fitted model takes as numbers, beside the pattern keys."""

_CITATION_MARKER = re.compile(r"\[\d+\]")
_THREAD_NUMBERING = re.compile(r"^\s*\d+/\d+\s")
_URL = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"(?<!\S)#\w+")
_MENTION = re.compile(r"(?<![\w@])@\w{2,}")
_FIGURE = re.compile(r"\d")
_EMOJI = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\U00002b50\U00002b55]"
)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class PostFeatures:
    """One post's features (see the module docstring for each)."""

    format: str
    hook_type: str
    first_line_question: bool
    first_line_number: bool
    length_chars: int
    length_band: str
    hashtag_count: int
    link_count: int
    emoji_count: int
    mention_count: int
    reading_grade: float
    query_domain: str
    premium_share: float | None
    posted_weekday: str | None
    posted_hour: int | None


def first_line(text: str) -> str:
    """The first non-blank line, without citation markers and thread numbering."""
    for line in text.splitlines():
        if line.strip():
            return _THREAD_NUMBERING.sub("", _CITATION_MARKER.sub("", line)).strip()
    return ""


def embedding_text(text: str) -> str:
    """The part of a post that is embedded, for training and prediction alike."""
    return text[:EMBEDDED_CHARACTERS]


@lru_cache(maxsize=65_536)
def _syllables(lowered: str) -> int:
    """Syllables of a lower-case word, counted by vowel groups (cached: posts share words)."""
    groups = len(_VOWEL_GROUP.findall(lowered))
    if lowered.endswith("e") and not lowered.endswith(("le", "ee")) and groups > 1:
        groups -= 1
    return max(groups, 1)


def reading_grade(text: str) -> float:
    """The Flesch-Kincaid grade of ``text`` (links, hashtags and markers left out); 0 for a
    text without words."""
    plain = _HASHTAG.sub(" ", _URL.sub(" ", _CITATION_MARKER.sub("", text)))
    words = _WORD.findall(plain)
    if not words:
        return 0.0
    sentences = max(len(_SENTENCE_END.findall(plain)), 1)
    syllables = sum(
        count * _syllables(word) for word, count in Counter(w.lower() for w in words).items()
    )
    grade = 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59
    return round(max(grade, 0.0), 2)


def length_band(format_: str, characters: int) -> str:
    medium, long = LENGTH_BANDS.get(format_, DEFAULT_LENGTH_BANDS)
    if characters < medium:
        return "short"
    return "medium" if characters < long else "long"


def top_domain(domains: Mapping[str, float] | Sequence[str]) -> str:
    """The heaviest domain (ties by name), the first one of a plain list, or ``none``."""
    if isinstance(domains, Mapping):
        if not domains:
            return NO_DOMAIN
        return min(domains, key=lambda name: (-domains[name], name))
    return domains[0] if domains else NO_DOMAIN


def timezone(name: str | None) -> ZoneInfo:
    """The named IANA timezone, UTC for None; an unknown name is a ``ValueError``."""
    if name is None:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


def post_features(
    text: str,
    format_: str,
    hook_type: str | None,
    query_domains: Mapping[str, float] | Sequence[str],
    cited_tiers: Sequence[str],
    posted_at: datetime | None,
    timezone_name: str | None,
) -> PostFeatures:
    """The features of one post, the same for training and prediction.

    ``posted_at`` must carry a timezone (a naive time is a ``ValueError``: which zone it
    meant cannot be known); it is read in ``timezone_name`` (UTC when None)."""
    opening = first_line(text)
    weekday: str | None = None
    hour: int | None = None
    if posted_at is not None:
        if posted_at.utcoffset() is None:
            raise ValueError(f"posted_at {posted_at.isoformat()} has no timezone")
        local = posted_at.astimezone(UTC).astimezone(timezone(timezone_name))
        weekday, hour = WEEKDAYS[local.weekday()], local.hour
    premium = (
        sum(tier == PREMIUM_TIER for tier in cited_tiers) / len(cited_tiers)
        if cited_tiers
        else None
    )
    return PostFeatures(
        format=format_,
        hook_type=hook_type or NO_HOOK,
        first_line_question=opening.rstrip().endswith("?"),
        first_line_number=bool(_FIGURE.search(opening)),
        length_chars=len(text),
        length_band=length_band(format_, len(text)),
        hashtag_count=len(_HASHTAG.findall(text)),
        link_count=len(_URL.findall(text)),
        emoji_count=len(_EMOJI.findall(text)),
        mention_count=len(_MENTION.findall(text)),
        reading_grade=reading_grade(text),
        query_domain=top_domain(query_domains),
        premium_share=premium,
        posted_weekday=weekday,
        posted_hour=hour,
    )


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def hashtag_band(count: int) -> str:
    if count == 0:
        return "0"
    return "1-3" if count <= 3 else "4+"


def reading_band(grade: float) -> str:
    if grade < 9:
        return "easy"
    return "medium" if grade < 13 else "hard"


def premium_band(share: float | None) -> str:
    if share is None:
        return "none_cited"
    if share < 1 / 3:
        return "low"
    return "mid" if share < 2 / 3 else "high"


def hour_band(hour: int) -> str:
    if hour < 6:
        return "night"
    if hour < 12:
        return "morning"
    return "afternoon" if hour < 17 else "evening"


def pattern_values(features: PostFeatures) -> dict[str, str]:
    """The post's categorical pattern keys, feature name → value, in ``PATTERN_FEATURES``
    order; the time keys only when the post has a posting time."""
    values = {
        "format": features.format,
        "hook_type": features.hook_type,
        "first_line_question": _yes_no(features.first_line_question),
        "first_line_number": _yes_no(features.first_line_number),
        "length_band": features.length_band,
        "hashtag_band": hashtag_band(features.hashtag_count),
        "has_link": _yes_no(features.link_count > 0),
        "has_emoji": _yes_no(features.emoji_count > 0),
        "has_mention": _yes_no(features.mention_count > 0),
        "reading_band": reading_band(features.reading_grade),
        "query_domain": features.query_domain,
        "premium_band": premium_band(features.premium_share),
    }
    if features.posted_weekday is not None and features.posted_hour is not None:
        values["posted_weekday"] = features.posted_weekday
        values["posted_hour_band"] = hour_band(features.posted_hour)
    return values


def numeric_values(features: PostFeatures) -> dict[str, float]:
    """The measured features as numbers, in ``NUMERIC_FEATURES`` order: counts compressed
    with ``log1p`` so one long post does not dominate, a missing premium share as the
    neutral 0.5."""
    return {
        "length_chars": math.log1p(features.length_chars),
        "hashtag_count": math.log1p(features.hashtag_count),
        "link_count": math.log1p(features.link_count),
        "emoji_count": math.log1p(features.emoji_count),
        "mention_count": math.log1p(features.mention_count),
        "reading_grade": features.reading_grade,
        "premium_share": 0.5 if features.premium_share is None else features.premium_share,
    }
