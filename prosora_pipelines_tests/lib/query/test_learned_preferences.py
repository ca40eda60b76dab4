"""Why: learning patterns are how feedback steers generation; the reader must follow the
effects that help (hooks, length, hashtags, links, posting time), refuse to guess at
patterns it does not understand, and claim for a draft only the patterns it really follows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prosora_pipelines.lib.query.drafts import Draft
from prosora_pipelines.lib.query.learned_preferences import preferences


@dataclass
class Pattern:
    pattern_type: str
    pattern_data: dict[str, Any]
    confidence: float = 0.9
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def _pattern(feature: str, value: str, lift: float) -> Pattern:
    return Pattern(feature, {"value": value, "lift": lift, "interval": [lift - 0.1, lift + 0.1]})


def test_without_patterns_nothing_is_steered() -> None:
    result = preferences([])
    assert result.hook_order == ("data", "contrarian", "story", "question")
    assert result.applied == () and result.ignored == ()
    shape = result.shape()
    assert shape.characters == {} and shape.hashtags is None and shape.link is None
    assert result.posting_time(datetime(2026, 12, 6, tzinfo=UTC), None) is None


def test_hooks_are_ordered_by_lift() -> None:
    story = _pattern("hook_type", "story", 1.3)
    question = _pattern("hook_type", "question", 1.1)
    data = _pattern("hook_type", "data", 0.8)
    result = preferences([story, question, data])
    assert result.hook_order == ("story", "question", "contrarian", "data")
    assert set(result.applied) == {story.id, question.id, data.id}


def test_the_helping_value_with_the_largest_lift_shapes_the_drafts() -> None:
    short = _pattern("length_band", "short", 1.2)
    medium = _pattern("length_band", "medium", 1.05)
    long = _pattern("length_band", "long", 0.8)
    few_tags = _pattern("hashtag_band", "1-3", 1.1)
    many_tags = _pattern("hashtag_band", "4+", 0.7)
    no_link = _pattern("has_link", "no", 1.15)
    result = preferences([medium, long, short, many_tags, few_tags, no_link])
    shape = result.shape()
    assert shape.characters["linkedin_post"] == (1, 699)
    assert shape.characters["x_thread"] == (1, 499)
    assert shape.hashtags == 3 and shape.link is False
    assert set(result.applied) == {short.id, few_tags.id, no_link.id}


def test_only_harmful_values_steer_nothing() -> None:
    result = preferences([_pattern("has_link", "yes", 0.7), _pattern("length_band", "long", 0.8)])
    assert result.shape().link is None and result.shape().characters == {}
    assert result.applied == ()


def test_posting_time_is_the_next_favoured_slot_in_the_users_timezone() -> None:
    monday = _pattern("posted_weekday", "mon", 1.1)
    morning = _pattern("posted_hour_band", "morning", 1.3)
    result = preferences([monday, morning])
    # Sunday 6 December 2026, 22:00 UTC = Monday 7 December 07:00 in Tokyo.
    now = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    in_tokyo = result.posting_time(now, "Asia/Tokyo")
    assert in_tokyo is not None and in_tokyo.isoformat() == "2026-12-07T09:00:00+09:00"
    in_utc = result.posting_time(now, None)
    assert in_utc is not None and in_utc.isoformat() == "2026-12-07T09:00:00+00:00"
    evening_only = preferences([_pattern("posted_hour_band", "evening", 1.2)])
    later = evening_only.posting_time(now, None)
    assert later is not None and later.isoformat() == "2026-12-07T19:00:00+00:00"


def test_a_draft_is_credited_only_with_the_patterns_it_follows() -> None:
    story = _pattern("hook_type", "story", 1.3)
    short = _pattern("length_band", "short", 1.2)
    no_link = _pattern("has_link", "no", 1.15)
    morning = _pattern("posted_hour_band", "morning", 1.3)
    result = preferences([story, short, no_link, morning])
    when = datetime(2026, 12, 7, 9, tzinfo=UTC)
    short_story = Draft("linkedin_post", "story", "story", "A short post [1]\n\nBody.", (1,))
    long_data = Draft(
        "linkedin_post",
        "data",
        "data",
        "Figures [1]\n\n" + "word " * 400 + "https://a.example",
        (1,),
    )
    assert {p.id for p in result.shaped_by(short_story, when, None)} == {
        story.id,
        short.id,
        no_link.id,
        morning.id,
    }
    assert {p.id for p in result.shaped_by(long_data, when, None)} == {morning.id}


def test_patterns_it_does_not_understand_are_reported_not_used() -> None:
    unsteered = _pattern("reading_band", "easy", 1.3)
    bad_value = _pattern("hook_type", "meme", 1.5)
    bad_lift = Pattern("hook_type", {"value": "story", "lift": True})
    old_shape = Pattern("hook_type", {"hook_type": "story", "lift": 0.3})
    result = preferences([unsteered, bad_value, bad_lift, old_shape])
    assert result.hook_order == ("data", "contrarian", "story", "question")
    assert result.applied == ()
    assert result.ignored == (
        f"{unsteered.id} (reading_band)",
        f"{bad_value.id} (hook_type)",
        f"{bad_lift.id} (hook_type)",
        f"{old_shape.id} (hook_type)",
    )
