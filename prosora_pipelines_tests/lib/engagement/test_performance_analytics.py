"""Why: users and the learning pipeline judge the engagement predictor by this report, so
its numbers must be the documented ones, checked against values worked out by hand: the
latest known rate per variant, the user's variants only, and no division by zero for a
user with no feedback yet."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import User, Variant
from prosora_pipelines.lib.appdb.repository import (
    ContentFormat,
    get_or_create_user,
    record_feedback,
    record_query,
)
from prosora_pipelines.lib.engagement.performance_analytics import (
    Accuracy,
    CalibrationBin,
    Observation,
    PerformanceReport,
    accuracy,
    calibration,
    performance_report,
    summarize,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
EMPTY = Accuracy(count=0, mean_absolute_error=None, bias=None, rmse=None, calibration=())


def _observation(predicted: float, actual: float, format_: str = "linkedin_post") -> Observation:
    return Observation(format_, "prior-1", predicted, actual)


def test_metrics_match_hand_computed_values() -> None:
    # errors (predicted - actual): +0.01, -0.02, 0, +0.01
    result = accuracy(
        [
            _observation(0.03, 0.02),
            _observation(0.02, 0.04),
            _observation(0.05, 0.05),
            _observation(0.015, 0.005),
        ]
    )
    assert result.count == 4
    assert result.mean_absolute_error == pytest.approx(0.04 / 4)
    assert result.bias == pytest.approx(0.0, abs=1e-15)
    assert result.rmse == pytest.approx(math.sqrt((0.0001 + 0.0004 + 0 + 0.0001) / 4))


def test_a_one_sided_predictor_shows_its_bias() -> None:
    result = accuracy([_observation(0.05, 0.02), _observation(0.04, 0.03)])
    assert result.bias == pytest.approx(0.02)
    assert result.mean_absolute_error == pytest.approx(0.02)
    assert result.rmse == pytest.approx(math.sqrt((0.0009 + 0.0001) / 2))


def test_calibration_bins_hold_the_means_of_their_members() -> None:
    bins = calibration(
        [
            _observation(0.012, 0.02),
            _observation(0.018, 0.01),
            _observation(0.03, 0.025),
            _observation(0.0, 0.001),
            _observation(1.0, 0.2),
            _observation(0.3, 0.1),
        ]
    )
    expected = [
        (0.0, 0.01, 1, 0.0, 0.001),
        (0.01, 0.02, 2, 0.015, 0.015),
        (0.03, 0.04, 1, 0.03, 0.025),
        (0.25, 1.0, 2, 0.65, 0.15),
    ]
    assert [(b.lower, b.upper, b.count, b.mean_predicted, b.mean_actual) for b in bins] == [
        pytest.approx(row) for row in expected
    ]


def test_custom_edges_and_the_edge_itself_opens_the_next_bin() -> None:
    bins = calibration([_observation(0.5, 0.4), _observation(0.49, 0.1)], edges=(0, 0.5, 1))
    assert bins == (
        CalibrationBin(lower=0, upper=0.5, count=1, mean_predicted=0.49, mean_actual=0.1),
        CalibrationBin(lower=0.5, upper=1, count=1, mean_predicted=0.5, mean_actual=0.4),
    )


def test_no_observations_give_no_metrics_rather_than_a_division_by_zero() -> None:
    assert accuracy([]) == EMPTY
    assert summarize([]) == PerformanceReport(overall=EMPTY, by_format={}, by_predictor={})


def _query(
    session: Session,
    user: User,
    versions: dict[str, str],
    variants: list[tuple[ContentFormat, float | None]],
) -> list[Variant]:
    query = record_query(
        session,
        user,
        {
            "text": "AI regulation",
            "processing_time_ms": 5.0,
            "created_at": NOW - timedelta(days=30),
            "model_versions": versions,
            "variants": [
                {
                    "format": format_,
                    "text": f"draft {index}",
                    "predicted_engagement": predicted,
                    "model_version": "extractive-1",
                }
                for index, (format_, predicted) in enumerate(variants)
            ],
        },
    )
    return list(query.variants)


def _engagement(
    session: Session,
    user: User,
    variant: Variant,
    impressions: int,
    engaged: int,
    *,
    recorded: datetime = NOW,
    platform: str = "linkedin",
    posted: datetime = NOW - timedelta(days=3),
) -> None:
    record_feedback(
        session,
        user,
        variant.id,
        {
            "platform": platform,
            "posted_at": posted,
            "impressions": impressions,
            "reactions": engaged,
            "comments": 0,
            "shares": 0,
        },
        now=recorded,
    )


def test_the_report_compares_each_variants_latest_known_rate(session: Session) -> None:
    user = get_or_create_user(session, "ada@example.com", "Ada")
    other = get_or_create_user(session, "bob@example.com", "Bob")
    a, b, unpredicted, _never_posted = _query(
        session,
        user,
        {"generator": "extractive-1", "predictor": "prior-1"},
        [("linkedin_post", 0.03), ("x_thread", 0.02), ("linkedin_post", None), ("x_thread", 0.1)],
    )
    [e] = _query(session, user, {"predictor": "model-2"}, [("linkedin_post", 0.015)])
    [f] = _query(session, user, {}, [("x_thread", 0.05)])
    [theirs] = _query(session, other, {"predictor": "prior-1"}, [("x_thread", 0.9)])

    # a: an older LinkedIn figure (1%), then a newer X one (2%) -> 2%.
    _engagement(session, user, a, 1000, 10, recorded=NOW - timedelta(days=2))
    _engagement(session, user, a, 1000, 20, platform="x", posted=NOW - timedelta(days=1))
    # b: 4%, then a newer row without impressions, whose rate is unknown -> 4%.
    _engagement(session, user, b, 500, 20)
    _engagement(session, user, b, 0, 0, platform="x", recorded=NOW + timedelta(hours=1))
    # e: 1% at first, replaced by the same post's later figures (0.5%).
    _engagement(session, user, e, 100, 1)
    _engagement(session, user, e, 2000, 10, recorded=NOW + timedelta(hours=2))
    _engagement(session, user, f, 200, 10)
    _engagement(session, user, unpredicted, 100, 50)
    _engagement(session, other, theirs, 100, 1)
    session.commit()
    session.expunge_all()

    report = performance_report(session, user)

    # errors: a +0.01, b -0.02, e +0.01, f 0
    assert report.overall.count == 4
    assert report.overall.mean_absolute_error == pytest.approx(0.01)
    assert report.overall.bias == pytest.approx(0.0, abs=1e-15)
    assert report.overall.rmse == pytest.approx(math.sqrt(0.0006 / 4))
    assert [
        (b.lower, b.count, b.mean_predicted, b.mean_actual) for b in report.overall.calibration
    ] == [
        pytest.approx((0.01, 1, 0.015, 0.005)),
        pytest.approx((0.02, 1, 0.02, 0.04)),
        pytest.approx((0.03, 1, 0.03, 0.02)),
        pytest.approx((0.05, 1, 0.05, 0.05)),
    ]

    def metrics(result: Accuracy) -> tuple[int, float | None, float | None, float | None]:
        return (result.count, result.mean_absolute_error, result.bias, result.rmse)

    assert {name: metrics(result) for name, result in report.by_format.items()} == {
        "linkedin_post": (2, pytest.approx(0.01), pytest.approx(0.01), pytest.approx(0.01)),
        "x_thread": (2, pytest.approx(0.01), pytest.approx(-0.01), pytest.approx(math.sqrt(2e-4))),
    }
    assert list(report.by_predictor) == ["model-2", "prior-1", "unknown"]
    assert metrics(report.by_predictor["prior-1"]) == (
        2,
        pytest.approx(0.015),
        pytest.approx(-0.005),
        pytest.approx(math.sqrt(2.5e-4)),
    )
    assert metrics(report.by_predictor["model-2"]) == pytest.approx((1, 0.01, 0.01, 0.01))
    assert metrics(report.by_predictor["unknown"]) == pytest.approx((1, 0, 0, 0))
    assert len(report.by_format["x_thread"].calibration) == 2


def test_a_user_without_usable_feedback_gets_an_empty_report(session: Session) -> None:
    user = get_or_create_user(session, "new@example.com", "New")
    assert performance_report(session, user) == summarize([])

    unpredicted, unseen = _query(
        session, user, {"predictor": "prior-1"}, [("x_thread", None), ("x_thread", 0.02)]
    )
    _engagement(session, user, unpredicted, 100, 5)
    _engagement(session, user, unseen, 0, 0)
    session.commit()
    report = performance_report(session, user)
    assert report.overall == EMPTY
    assert (report.by_format, report.by_predictor) == ({}, {})
