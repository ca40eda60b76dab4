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

Once the learning pipeline has promoted a trained model, ``PromotedModelOrPrior`` predicts
with it instead (``kind="learned"``, the model's version): the draft's features
(``lib.engagement.features.post_features``, the same code training used) and its text
embedding go in, the rate and each feature's effect come out, and the effects are the
reasons. It looks the promoted model up on every call, so a model promoted while the API or
the CLI runs is used from the next query on.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.engagement.features import (
    embedding_text,
    pattern_values,
    post_features,
)
from prosora_pipelines.lib.engagement.model_registry import EMBEDDING_FEATURE, load_promoted
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
    # Added to the log-odds (the prior) or to the log of the rate (a learned model).
    contribution: float
    scale: Literal["odds", "rate"] = "odds"

    def explain(self) -> str:
        change = math.exp(self.contribution) - 1
        return f"{self.name}: {change:+.0%} {'odds' if self.scale == 'odds' else 'engagement'}"


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

    def predict_drafts(
        self,
        drafts: Sequence[Draft],
        evidence: Sequence[Evidence],
        context: DraftContext,  # noqa: ARG002 (the prior knows only the text and its sources)
    ) -> tuple[Prediction, ...]:
        return tuple(self.predict(draft, evidence) for draft in drafts)


@dataclass(frozen=True)
class DraftContext:
    """What a prediction knows besides the drafts: whose they are, what the query was
    about, and when they would be posted (None: not known) in which timezone."""

    user_id: uuid.UUID
    query_domains: Mapping[str, float]
    posting_time: datetime | None
    timezone: str | None


class EngagementPredictor(Protocol):
    """What the engine asks of a predictor: one prediction per draft, in order."""

    def predict_drafts(
        self, drafts: Sequence[Draft], evidence: Sequence[Evidence], context: DraftContext
    ) -> tuple[Prediction, ...]: ...


TextEncoder = Callable[[Sequence[str]], npt.NDArray[np.float32]]


def _factor_name(feature: str, values: Mapping[str, str]) -> str:
    label = "wording" if feature == EMBEDDING_FEATURE else feature.replace("_", " ")
    return f"{label} {values[feature]}" if feature in values else label


class PromotedModelOrPrior:
    """The promoted engagement model when there is one, the prior otherwise (see the module
    docstring). ``encode`` embeds draft texts as training embedded posts (the index's
    document encoder)."""

    def __init__(self, models_dir: Path, encode: TextEncoder, prior: EngagementPrior) -> None:
        self.models_dir = models_dir
        self.encode = encode
        self.prior = prior

    def predict_drafts(
        self, drafts: Sequence[Draft], evidence: Sequence[Evidence], context: DraftContext
    ) -> tuple[Prediction, ...]:
        promoted = load_promoted(self.models_dir)
        if promoted is None or not drafts:
            return self.prior.predict_drafts(drafts, evidence, context)
        vectors = self.encode([embedding_text(draft.text) for draft in drafts])
        tiers = {item.ref: item.tier for item in evidence}
        predictions = []
        for draft, vector in zip(drafts, vectors, strict=True):
            features = post_features(
                draft.text,
                draft.format,
                draft.hook_type,
                context.query_domains,
                [tiers[ref] for ref in draft.refs if ref in tiers],
                context.posting_time,
                context.timezone,
            )
            rate, contributions = promoted.predict(features, vector, str(context.user_id))
            values = pattern_values(features)
            factors = tuple(
                Factor(_factor_name(feature, values), change, math.log1p(change), "rate")
                for feature, change in contributions
            )
            predictions.append(
                Prediction(
                    rate=rate, kind="learned", model_version=promoted.version, factors=factors
                )
            )
        return tuple(predictions)
