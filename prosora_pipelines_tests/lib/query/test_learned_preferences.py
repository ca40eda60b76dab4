"""Why: learning patterns are how feedback steers generation; the reader must order hooks
by what worked and refuse to guess at patterns it does not understand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from prosora_pipelines.lib.query.learned_preferences import preferences


@dataclass
class Pattern:
    pattern_type: str
    pattern_data: dict[str, Any]
    confidence: float
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def test_without_patterns_the_default_order_holds() -> None:
    result = preferences([])
    assert result.hook_order == ("data", "contrarian", "story", "question")
    assert result.applied == () and result.ignored == ()


def test_hooks_are_ordered_by_lift_times_confidence() -> None:
    story = Pattern("hook_type", {"hook_type": "story", "lift": 0.3}, 0.9)
    question = Pattern("hook_type", {"hook_type": "question", "lift": 0.5}, 0.2)
    data = Pattern("hook_type", {"hook_type": "data", "lift": -0.2}, 0.8)
    result = preferences([story, question, data])
    assert result.hook_order == ("story", "question", "contrarian", "data")
    assert result.applied == (story.id, question.id, data.id)


def test_patterns_it_does_not_understand_are_reported_not_used() -> None:
    unknown_type = Pattern("posting_time", {"hour": 9}, 0.9)
    bad_hook = Pattern("hook_type", {"hook_type": "meme", "lift": 1.0}, 0.9)
    bad_lift = Pattern("hook_type", {"hook_type": "story", "lift": True}, 0.9)
    result = preferences([unknown_type, bad_hook, bad_lift])
    assert result.hook_order == ("data", "contrarian", "story", "question")
    assert result.applied == ()
    assert result.ignored == (
        f"{unknown_type.id} (posting_time)",
        f"{bad_hook.id} (hook_type)",
        f"{bad_lift.id} (hook_type)",
    )
