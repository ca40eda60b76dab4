"""Why: until a model is trained, every predicted engagement comes from the prior; it must
move the way its documented coefficients say, explain itself, and say it is a prior."""

from __future__ import annotations

import math

import pytest

from prosora_pipelines.lib.query import prediction
from prosora_pipelines.lib.query.drafts import Draft
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.prediction import BASE_RATE, EngagementPrior


def _evidence(tier: str) -> list[Evidence]:
    return [
        Evidence(
            ref=1,
            article_id="a",
            title="T",
            url="https://e.example/a",
            source_id="s",
            tier=tier,
            credibility=0.9,
            domains=(),
            published_at=None,
            snippet="",
            passage="",
            chunk_id="a:0",
            score=1.0,
            components={},
        )
    ]


def _draft(text: str, hook: str = "question", fmt: str = "linkedin_post") -> Draft:
    return Draft(format=fmt, hook_type=hook, angle="", text=text, refs=(1,))  # type: ignore[arg-type]


IDEAL = "x" * 1300


def test_a_neutral_draft_gets_the_base_rate_moved_only_by_its_hook() -> None:
    result = EngagementPrior().predict(_draft(IDEAL, "question"), _evidence("standard"))
    expected_logit = math.log(BASE_RATE["linkedin_post"] / (1 - BASE_RATE["linkedin_post"]))
    expected_logit += prediction.HOOK_COEFFICIENTS["question"]
    expected_logit += prediction.PREMIUM_SHARE_COEFFICIENT * -0.5
    assert result.rate == pytest.approx(1 / (1 + math.exp(-expected_logit)))
    assert result.kind == "prior"
    assert result.model_version == "engagement-prior-1"


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (IDEAL, IDEAL * 3),
        (IDEAL[:-1] + "?", IDEAL),
        (IDEAL[:-8] + " 29 of 46", IDEAL),
        (IDEAL[:-20] + " #a #b #c", IDEAL[:-20] + " #a #b #c #d #e"),
        (IDEAL, IDEAL[:-25] + " https://e.example/a"),
    ],
)
def test_each_feature_moves_the_prediction_its_documented_way(better: str, worse: str) -> None:
    prior = EngagementPrior()
    evidence = _evidence("standard")
    assert (
        prior.predict(_draft(better), evidence).rate > prior.predict(_draft(worse), evidence).rate
    )


def test_premium_sources_and_story_hooks_rank_higher() -> None:
    prior = EngagementPrior()
    assert (
        prior.predict(_draft(IDEAL), _evidence("premium")).rate
        > prior.predict(_draft(IDEAL), _evidence("experimental")).rate
    )
    story = prior.predict(_draft(IDEAL, "story"), _evidence("standard")).rate
    question = prior.predict(_draft(IDEAL, "question"), _evidence("standard")).rate
    assert story > question


def test_reasons_name_the_biggest_factors_first() -> None:
    result = EngagementPrior().predict(_draft(IDEAL * 4, "story"), _evidence("premium"))
    assert result.reasons[0].startswith("length away from the ideal: -")
    assert "story hook: +22% odds" in result.reasons


def test_every_coefficient_is_documented() -> None:
    doc = prediction.__doc__ or ""
    for value in [
        *prediction.HOOK_COEFFICIENTS.values(),
        prediction.LENGTH_COEFFICIENT,
        prediction.QUESTION_COEFFICIENT,
        prediction.NUMBER_COEFFICIENT,
        prediction.HASHTAG_COEFFICIENT,
        prediction.LINK_COEFFICIENT,
        prediction.PREMIUM_SHARE_COEFFICIENT,
    ]:
        assert f"{value:.2f}" in doc, value
    for rate in BASE_RATE.values():
        assert f"{rate:.1%}" in doc, rate
