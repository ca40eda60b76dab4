"""Why: what a page shows is computed from the API's answers by plain functions; each rule a
writer relies on (failing sources first, thin evidence said, the digest's absence said,
intervals shown when the API has them) is checked here without a browser or a server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from prosora_pipelines.app import views


def _source(name: str, **health: object) -> dict[str, object]:
    return {"id": name, "name": name, "enabled": True, "fetches": 3, **health}


def test_failing_sources_come_first_longest_failing_at_the_top() -> None:
    rows = views.source_rows(
        [
            _source("Alpha", consecutive_failures=0),
            _source("Beta", consecutive_failures=1, last_error="HTTP 500"),
            _source("Gamma", enabled=False),
            _source("Delta", fetches=0),
            _source("Epsilon", consecutive_failures=4, last_error="timeout"),
        ]
    )
    assert [(row["source"], row["health"]) for row in rows] == [
        ("Epsilon", "failing (4 in a row)"),
        ("Beta", "failing (1 in a row)"),
        ("Delta", "never fetched"),
        ("Alpha", "healthy"),
        ("Gamma", "disabled"),
    ]
    assert rows[0]["last error"] == "timeout"


def test_evidence_notices_say_what_is_missing() -> None:
    one = [{"ref": 1}]
    three = [{"ref": n} for n in (1, 2, 3)]
    assert views.evidence_notice({"evidence": []}).startswith("No evidence")  # type: ignore[union-attr]
    assert views.evidence_notice({"evidence": one}) == (
        "Thin evidence: only 1 article support these drafts; check them before posting, "
        "or ask more broadly."
    )
    partial = {"evidence": three, "degraded_reason": "the LLM failed; extractive drafts"}
    assert views.evidence_notice(partial) == "Partial answer: the LLM failed; extractive drafts."
    assert views.evidence_notice({"evidence": three}) is None


def test_evidence_rows_are_in_citation_order_with_tier_and_day() -> None:
    rows = views.evidence_rows(
        [
            {"ref": 2, "title": "B", "tier": "standard", "published_at": None},
            {
                "ref": 1,
                "title": "A",
                "tier": "premium",
                "published_at": "2026-11-19T14:30:00+00:00",
            },
        ]
    )
    assert [(r["ref"], r["tier"], r["published"]) for r in rows] == [
        (1, "premium", "2026-11-19"),
        (2, "standard", "–"),
    ]


def test_citations_link_to_the_article_with_brackets_in_titles_escaped() -> None:
    links = views.citation_links(
        [{"ref": 3, "title": "Rates [draft]", "url": "https://x.example/a", "source_id": "x"}]
    )
    assert links == ["[3] [Rates \\[draft\\]](https://x.example/a) · x"]


def test_prediction_line_names_the_rate_and_what_made_it() -> None:
    variant = {"prediction": {"rate": 0.03782, "kind": "prior", "model_version": "p-1"}}
    assert views.prediction_line(variant) == "Predicted engagement 3.78 % · prior p-1"
    with_interval = {"prediction": {**variant["prediction"], "interval": [0.02, 0.05]}}
    assert "(90 % interval 2.0 % to 5.0 %)" in views.prediction_line(with_interval)


def test_patterns_are_described_as_the_api_reports_them() -> None:
    # GET /learning/patterns: a multiplicative lift (1.3 = 30 % more) and its 90 % interval.
    pattern = {
        "id": "p1",
        "scope": "user",
        "pattern_type": "hook_type",
        "value": "question",
        "lift": 1.3,
        "interval": [1.1, 1.5],
        "samples": 40,
        "active": True,
    }
    assert views.pattern_text(pattern) == (
        "hook_type=question: +30% engagement (90 % interval +10% to +50%)"
    )
    row = views.pattern_rows([{**pattern, "active": False}])[0]
    assert (row["lift"], row["90 % interval"], row["samples"], row["active"]) == (
        "+30%",
        "+10% to +50%",
        40,
        "no",
    )
    unmeasured = {**pattern, "lift": None, "interval": None}
    assert views.pattern_text(unmeasured) == "hook_type=question"
    assert views.pattern_rows([unmeasured])[0]["90 % interval"] == "–"
    # A draft names the patterns applied to it (its own list first, else the query's).
    assert views.patterns_for_draft({}, ["p1", "gone"], [pattern]) == [
        "hook_type=question: +30% engagement (90 % interval +10% to +50%)",
        "pattern gone",
    ]
    assert views.patterns_for_draft({"patterns_applied": []}, ["p1"], [pattern]) == []


MODEL = {
    "version": "engagement-model-2",
    "promoted": True,
    "reason": "beats user_mean, prior, knn",
    "training_size": 288,
    "holdout_size": 72,
    "scores": {
        "linear": {"mae": 0.0078, "spearman": 0.61, "pairwise_accuracy": 0.8},
        "user_mean": {"mae": 0.013, "spearman": None, "pairwise_accuracy": 0.5},
    },
    "learning_curve": [
        {"observations": 72, "model_mae": 0.011, "user_mean_mae": 0.013},
        {"observations": 288, "model_mae": 0.0078, "user_mean_mae": 0.013},
    ],
}


def test_the_engagement_model_and_its_learning_curve_are_read_from_the_report() -> None:
    assert views.engagement_model({"model": None, "latest_candidate": None}) is None
    assert views.learning_curve({"model": None, "latest_candidate": None}) == []
    report = {"model": None, "latest_candidate": MODEL}
    assert views.engagement_model(report) == MODEL
    assert views.learning_curve(report)[1] == {
        "observations": 288.0,
        "model MAE %": pytest.approx(0.78),
        "your mean MAE %": pytest.approx(1.3),
    }
    rows = views.model_score_rows(MODEL)
    assert rows[0] == {
        "predictor": "learned model",
        "MAE": "0.78 %",
        "pairwise accuracy": "80 %",
        "Spearman": "0.61",
    }
    assert rows[1]["Spearman"] == "–"
    assert "engagement-model-2: promoted" in views.model_summary(MODEL)


def test_figures_the_page_does_not_lay_out_are_still_shown() -> None:
    performance = {
        "overall": {},
        "by_format": {},
        "by_predictor": {},
        "model": MODEL,
        "latest_candidate": None,
        "drift": {"weeks": 3},
        "baselines": None,
    }
    assert views.other_figures(performance) == {"drift": {"weeks": 3}}


def test_calibration_points_are_in_percent() -> None:
    accuracy = {"calibration": [{"mean_predicted": 0.031, "mean_actual": 0.045, "count": 4}]}
    assert views.calibration_points(accuracy) == [{"predicted %": 3.1, "actual %": 4.5, "posts": 4}]


def test_the_digest_says_when_there_is_none_or_it_is_empty() -> None:
    assert views.digest_markdown(None).startswith("No digest")
    assert "is empty" in views.digest_markdown({"date": "2026-12-06", "topics": []})
    digest = {
        "date": "2026-12-06",
        "topics": [
            {
                "topic": "AI rules",
                "stories": [
                    {
                        "title": "Sandboxes pivot",
                        "summary": "Two sentences.",
                        "citations": [{"title": "Policy Wire", "url": "https://p.example/1"}],
                    }
                ],
            }
        ],
    }
    shown = views.digest_markdown(digest)
    assert "### AI rules" in shown and "**Sandboxes pivot**" in shown
    assert "[Policy Wire](https://p.example/1)" in shown
    assert views.digest_markdown({"markdown": "# Today"}) == "# Today"


def test_topics_are_ordered_by_growth_with_new_topics_after() -> None:
    trends = {
        "topics": [
            {"label": "a", "growth": 0.5},
            {"label": "b", "growth": None},
            {"label": "c", "growth": 6.0},
        ]
    }
    assert [(r["topic"], r["growth"]) for r in views.topic_rows(trends)] == [
        ("c", "+600%"),
        ("a", "+50%"),
        ("b", "new"),
    ]


def test_history_filters_become_whole_utc_days() -> None:
    params = views.history_params("x_thread", date(2026, 12, 1), date(2026, 12, 2), 20)
    assert params == {
        "limit": 20,
        "format": "x_thread",
        "since": "2026-12-01T00:00:00+00:00",
        "until": "2026-12-02T23:59:59+00:00",
    }


def test_marking_posted_records_no_figures_yet() -> None:
    body = views.posted_feedback("linkedin", datetime(2026, 12, 6, 8, 30, tzinfo=UTC))
    assert body["posted_at"] == "2026-12-06T08:30:00+00:00"
    assert body["impressions"] == body["reactions"] == 0


def test_a_stored_query_reopens_in_the_shape_of_an_answer() -> None:
    stored = {
        "id": "q1",
        "text": "t",
        "status": "completed",
        "analysis": {"intent": "x_thread"},
        "results": {"evidence": [{"ref": 1}], "patterns_applied": ["p1"]},
        "variants": [
            {
                "id": "v1",
                "format": "x_thread",
                "text": "draft",
                "predicted_engagement": 0.02,
                "model_version": "p-1",
                "prediction_reasons": ["numbers: +16% odds"],
                "citations": [],
            }
        ],
        "created_at": "2026-12-06T08:00:00Z",
    }
    result = views.stored_as_result(stored)
    assert result["evidence"] == [{"ref": 1}] and result["patterns_applied"] == ["p1"]
    variant = result["variants"][0]
    assert views.prediction_line(variant) == "Predicted engagement 2.00 % · p-1"
    assert views.prediction_reasons(variant) == ["numbers: +16% odds"]
