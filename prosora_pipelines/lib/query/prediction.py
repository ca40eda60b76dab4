"""Phase 4b, engagement prediction: until a model is trained on recorded engagement, a
transparent prior.

The prior is a logistic model whose coefficients are chosen, not learned: they encode
common publishing heuristics and are written down here so a user can see (and disagree
with) every one. Its predictions say ``kind="prior"``; they are a starting point that the
learning pipeline replaces with a model fitted to the user's own feedback, and nothing in
them is measured.

``logit(rate) = BASE_LOGIT[format] + sum(coefficient * feature)``, with features:

| feature | value | coefficient |
|---|---|---|
| hook type | 1 for the draft's hook | data 0.15, contrarian 0.12, story 0.20, question 0.10 |
| length | abs(ln(characters / IDEAL_CHARACTERS[format])) | -0.40 |
| asks a question | 1 if the text has a "?" | 0.08 |
| numbers | distinct numbers, at most 3 | 0.05 each |
| hashtags | hashtags beyond 3 | -0.10 each |
| links | URLs in the text (LinkedIn shows fewer posts with links) | -0.15 each, LinkedIn only |
| source tier mix | share of cited articles from premium sources, minus 0.5 | 0.20 |

Base rates: LinkedIn post 3.0%, X thread 1.5%, blog outline 2.0% engagement per impression
(the engagement rate of ``appdb.models.engagement_rate``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.query.drafts import Draft, HookType
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.grounding import assertions, numbers

PRIOR_VERSION = "engagement-prior-1"
BASE_RATE: dict[ContentFormat, float] = {
    "linkedin_post": 0.030,
    "x_thread": 0.015,
    "blog_outline": 0.020,
}
IDEAL_CHARACTERS: dict[ContentFormat, int] = {
    "linkedin_post": 1300,
    "x_thread": 1100,
    "blog_outline": 1800,
}
HOOK_COEFFICIENTS: dict[HookType, float] = {
    "data": 0.15,
    "contrarian": 0.12,
    "story": 0.20,
    "question": 0.10,
}
LENGTH_COEFFICIENT = -0.40
QUESTION_COEFFICIENT = 0.08
NUMBER_COEFFICIENT = 0.05
MAX_NUMBERS_COUNTED = 3
HASHTAG_FREE = 3
HASHTAG_COEFFICIENT = -0.10
LINK_COEFFICIENT = -0.15
PREMIUM_SHARE_COEFFICIENT = 0.20

_URL = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"(?<!\S)#\w+")


@dataclass(frozen=True)
class Factor:
    name: str
    value: float
    contribution: float  # to the logit

    def explain(self) -> str:
        change = math.exp(self.contribution) - 1
        return f"{self.name}: {change:+.0%} odds"


@dataclass(frozen=True)
class Prediction:
    rate: float
    kind: str
    model_version: str
    factors: tuple[Factor, ...]

    @property
    def reasons(self) -> list[str]:
        """The factors that moved the prediction most, in words, largest first."""
        moving = sorted(
            (f for f in self.factors if abs(f.contribution) >= 0.005),
            key=lambda f: -abs(f.contribution),
        )
        return [factor.explain() for factor in moving[:4]]


def _logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


class EngagementPrior:
    """The documented prior (see the module docstring)."""

    kind = "prior"
    version = PRIOR_VERSION

    def features(self, draft: Draft, evidence: Mapping[int, Evidence]) -> list[Factor]:
        text = draft.text
        cited = [evidence[ref] for ref in draft.refs if ref in evidence]
        premium_share = sum(item.tier == "premium" for item in cited) / len(cited) if cited else 0.5
        length = abs(math.log(max(len(text), 1) / IDEAL_CHARACTERS[draft.format]))
        distinct_numbers = min(len(numbers(assertions(text))), MAX_NUMBERS_COUNTED)
        extra_hashtags = max(len(_HASHTAG.findall(text)) - HASHTAG_FREE, 0)
        links = len(_URL.findall(text)) if draft.format == "linkedin_post" else 0
        asks = float("?" in text)
        return [
            Factor(f"{draft.hook_type} hook", 1.0, HOOK_COEFFICIENTS[draft.hook_type]),
            Factor("length away from the ideal", length, LENGTH_COEFFICIENT * length),
            Factor("asks a question", asks, QUESTION_COEFFICIENT * asks),
            Factor("numbers", distinct_numbers, NUMBER_COEFFICIENT * distinct_numbers),
            Factor("hashtags beyond 3", extra_hashtags, HASHTAG_COEFFICIENT * extra_hashtags),
            Factor("links", links, LINK_COEFFICIENT * links),
            Factor(
                "premium sources",
                premium_share,
                PREMIUM_SHARE_COEFFICIENT * (premium_share - 0.5),
            ),
        ]

    def predict(self, draft: Draft, evidence: Sequence[Evidence]) -> Prediction:
        factors = tuple(self.features(draft, {item.ref: item for item in evidence}))
        logit = _logit(BASE_RATE[draft.format]) + sum(f.contribution for f in factors)
        return Prediction(
            rate=1 / (1 + math.exp(-logit)),
            kind=self.kind,
            model_version=self.version,
            factors=factors,
        )


class EngagementPredictor(Protocol):
    """What the engine asks of a predictor: the prior now, a trained model later."""

    def predict(self, draft: Draft, evidence: Sequence[Evidence]) -> Prediction: ...
