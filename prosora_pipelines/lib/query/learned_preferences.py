"""Phase 5, the read side of learning: active learning patterns steer what is generated.

The learning pipeline writes patterns; the engine reads the ones that apply to the user
(theirs and the global ones). It understands this pattern type:

- ``hook_type``: ``{"hook_type": "story", "lift": 0.18}``, the relative engagement lift of
  drafts with that hook over the user's average. Hooks are tried best first, ordered by
  ``lift * confidence`` (hooks without a pattern count as 0), so when fewer variants are
  asked for than there are hooks, the ones that worked are kept; and variants are listed in
  that order.

A pattern of another type, or with data this reader does not understand, is left unused and
reported as such, never guessed at.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prosora_pipelines.lib.query.drafts import HOOK_TYPES, HookType


class PatternRow(Protocol):
    id: uuid.UUID
    pattern_type: str
    pattern_data: dict[str, Any]
    confidence: float


@dataclass(frozen=True)
class Preferences:
    hook_order: tuple[HookType, ...]
    applied: tuple[uuid.UUID, ...]
    ignored: tuple[str, ...]


def _lift(pattern: PatternRow) -> tuple[HookType, float] | None:
    if pattern.pattern_type != "hook_type":
        return None
    hook = pattern.pattern_data.get("hook_type")
    lift = pattern.pattern_data.get("lift")
    if hook not in HOOK_TYPES or not isinstance(lift, int | float) or isinstance(lift, bool):
        return None
    return hook, float(lift)


def preferences(patterns: Sequence[PatternRow]) -> Preferences:
    """The hook order and the patterns behind it (see the module docstring)."""
    weight: dict[HookType, float] = dict.fromkeys(HOOK_TYPES, 0.0)
    applied: list[uuid.UUID] = []
    ignored: list[str] = []
    for pattern in patterns:
        understood = _lift(pattern)
        if understood is None:
            ignored.append(f"{pattern.id} ({pattern.pattern_type})")
            continue
        hook, lift = understood
        weight[hook] += lift * pattern.confidence
        applied.append(pattern.id)
    order = sorted(HOOK_TYPES, key=lambda hook: (-weight[hook], HOOK_TYPES.index(hook)))
    return Preferences(hook_order=tuple(order), applied=tuple(applied), ignored=tuple(ignored))
