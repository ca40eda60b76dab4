"""Phase 3, voice: how a user's profile shapes the drafts written for them.

- Phrases to use open a body sentence as its lead-in ("The evidence shows: ..."), one per
  draft, rotating through the list, so they read best written as lead-ins.
- Frameworks make the closing line, rotating: the one line a draft adds of its own is the
  user's framework put to the user's audience. A profile without frameworks gets no closing
  line rather than a stock one.
- Phrases to avoid are never written: evidence sentences holding one are not used, and a
  draft that still contains one (from an LLM) is refused.
- The audience is whom the question and the closing line address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from prosora_pipelines.lib.appdb.repository import VoiceProfileInput


@dataclass(frozen=True)
class Voice:
    profile: VoiceProfileInput

    @property
    def audience(self) -> str:
        return self.profile.audience

    def lead_in(self, variant: int) -> str | None:
        """The phrase that opens a body sentence of the ``variant``-th draft, if any."""
        phrases = self.profile.phrases_to_use
        if not phrases:
            return None
        phrase = phrases[variant % len(phrases)]
        return phrase[:1].upper() + phrase[1:]

    def closing(self, variant: int) -> str | None:
        """The ``variant``-th draft's closing line, from the profile's frameworks; None when
        the profile names none."""
        frameworks = self.profile.frameworks
        if not frameworks:
            return None
        framework = frameworks[variant % len(frameworks)]
        return f"Through {framework}: what does this change for {self.audience}?"

    @cached_property
    def _avoided(self) -> re.Pattern[str] | None:
        phrases = self.profile.phrases_to_avoid
        if not phrases:
            return None
        alternatives = "|".join(re.escape(phrase) for phrase in phrases)
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def avoided_phrases_in(self, text: str) -> list[str]:
        """The phrases to avoid that ``text`` contains, as written there."""
        if self._avoided is None:
            return []
        return [match.group() for match in self._avoided.finditer(text)]
