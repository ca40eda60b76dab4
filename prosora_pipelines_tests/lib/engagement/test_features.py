from datetime import UTC, datetime

import pytest

from prosora_pipelines.lib.engagement.features import (
    PATTERN_FEATURES,
    first_line,
    pattern_values,
    post_features,
    reading_grade,
)


def test_features_of_a_drafted_post() -> None:
    text = (
        "1/4 Why did 62% of fintechs miss the rule? [1]\n\n"
        "Regulators moved first, see https://example.org/a and ask @maria_k 🚀\n\n#fintech #ai"
    )
    features = post_features(
        text,
        "x_thread",
        "question",
        {"finance": 0.3, "policy": 0.7},
        ["premium", "standard", "premium", "experimental"],
        datetime(2026, 3, 3, 7, 30, tzinfo=UTC),
        "America/New_York",
    )
    assert first_line(text) == "Why did 62% of fintechs miss the rule?"
    assert features.first_line_question and features.first_line_number
    assert (features.hashtag_count, features.link_count) == (2, 1)
    assert (features.emoji_count, features.mention_count) == (1, 1)
    assert features.query_domain == "policy"
    assert features.premium_share == 0.5
    # 07:30 UTC on Tuesday is 02:30 in New York, still Tuesday.
    assert (features.posted_weekday, features.posted_hour) == ("tue", 2)
    values = pattern_values(features)
    assert list(values) == list(PATTERN_FEATURES)
    assert values["hook_type"] == "question"
    assert values["length_band"] == "short"
    assert values["hashtag_band"] == "1-3"
    assert values["has_link"] == "yes"
    assert values["premium_band"] == "mid"
    assert values["posted_hour_band"] == "night"


def test_unposted_and_unknown_inputs() -> None:
    features = post_features("Plain words here.", "linkedin_post", None, [], [], None, None)
    values = pattern_values(features)
    assert values["hook_type"] == "none"
    assert values["query_domain"] == "none"
    assert values["premium_band"] == "none_cited"
    assert "posted_weekday" not in values and "posted_hour_band" not in values
    assert not features.first_line_question and not features.first_line_number


def test_timezone_defaults_to_utc_and_bad_input_is_refused() -> None:
    posted = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    utc = post_features("x", "linkedin_post", None, [], [], posted, None)
    tokyo = post_features("x", "linkedin_post", None, [], [], posted, "Asia/Tokyo")
    assert (utc.posted_weekday, utc.posted_hour) == ("sun", 23)
    assert (tokyo.posted_weekday, tokyo.posted_hour) == ("mon", 8)
    with pytest.raises(ValueError, match="unknown timezone"):
        post_features("x", "linkedin_post", None, [], [], posted, "Mars/Olympus")
    with pytest.raises(ValueError, match="no timezone"):
        post_features("x", "linkedin_post", None, [], [], datetime(2026, 3, 8), None)


def test_reading_grade_orders_plain_and_dense_text() -> None:
    plain = "We ship. We learn. We ship again. It works."
    dense = (
        "Institutional interoperability considerations notwithstanding, regulatory "
        "harmonization initiatives systematically underestimate implementation complexity."
    )
    assert reading_grade(plain) < 5 < 13 < reading_grade(dense)
    assert reading_grade("") == 0.0
