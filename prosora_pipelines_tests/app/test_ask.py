"""Why: the Ask page is where a writer meets the product. Against the real API it must stream
the answer in, show the evidence with tiers and dates and the drafts with their citations,
predictions and reasons, let the draft be copied exactly, and record it as posted."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from prosora_pipelines_tests.api.conftest import QUERY_TEXT
from prosora_pipelines_tests.app.conftest import LiveApi, OpenApp, assert_no_exception, texts


def _ask(
    app: AppTest, question: str = QUERY_TEXT, formats: tuple[str, ...] = ("linkedin_post",)
) -> dict[str, Any]:
    app.text_area(key="question").input(question)
    app.multiselect(key="formats").set_value(list(formats))
    app.number_input(key="variants").set_value(3)
    app.button(key="ask_submit").click().run()
    assert_no_exception(app)
    answer: dict[str, Any] = app.session_state["answer"]
    return answer


def test_asking_shows_evidence_drafts_predictions_and_citations(open_app: OpenApp) -> None:
    app = open_app()
    answer = _ask(app, formats=("linkedin_post", "x_thread"))
    assert answer["status"] == "completed"
    shown = texts(app)
    assert "Evidence (" in shown
    assert "LinkedIn post" in shown and "X thread" in shown
    evidence = app.dataframe[-1].value
    assert list(evidence["tier"]) == [item["tier"] for item in answer["evidence"]]
    assert all(published != "–" for published in evidence["published"])
    assert len(answer["variants"]) == 6
    for variant in answer["variants"]:
        assert "Predicted engagement" in shown
        for reason in variant["prediction"]["reasons"]:
            assert reason in shown
        for citation in variant["citations"]:
            assert f"]({citation['url']})" in shown


def test_a_draft_is_copied_exactly_as_drafted(open_app: OpenApp) -> None:
    app = open_app()
    answer = _ask(app)
    # st.code's copy button copies the block's text: it must be the draft, character for
    # character (citations markers and line breaks included).
    blocks = [block.value for block in app.code]
    assert [variant["text"] for variant in answer["variants"]] == blocks[-3:]


def test_marking_a_draft_posted_records_it_with_its_time(
    open_app: OpenApp, live_api: LiveApi
) -> None:
    app = open_app(email="poster@example.com")
    answer = _ask(app)
    variant_id = answer["variants"][0]["id"]
    app.selectbox(key=f"platform-{variant_id}").set_value("linkedin")
    app.button(key=f"mark-{variant_id}").click().run()
    assert_no_exception(app)
    platform, posted_at = app.session_state["posted"][variant_id]
    assert platform == "linkedin"
    assert "Posted on linkedin at" in texts(app)
    # The API stored it: recording figures for the same platform and time replaces it.
    app.switch_page("pages/feedback.py").run()
    assert app.selectbox(key="fb_variant").value == variant_id
    assert app.selectbox(key="fb_platform").value == "linkedin"
    assert posted_at.startswith(app.date_input(key="fb_day").value.isoformat())


def test_thin_evidence_is_said_above_the_drafts(open_app: OpenApp) -> None:
    app = open_app()
    app.number_input(key="max_evidence").set_value(2)
    answer = _ask(app)
    assert len(answer["evidence"]) == 2
    assert [warning.value for warning in app.warning] == [
        "Thin evidence: only 2 articles support these drafts; check them before posting, "
        "or ask more broadly."
    ]


def test_a_rate_limited_question_says_when_to_retry(
    open_app: OpenApp, limited_api: LiveApi
) -> None:
    app = open_app(api=limited_api)
    app.text_area(key="question").input(QUERY_TEXT)
    app.button(key="ask_submit").click().run()
    assert_no_exception(app)
    errors = [error.value for error in app.error]
    assert any(
        "Too many requests for now: the API's rate limit allows more in" in error
        and "seconds (at" in error
        for error in errors
    ), errors
    assert "Traceback" not in texts(app)


def test_an_api_that_is_down_is_named_without_a_traceback(
    open_app: OpenApp, live_api: LiveApi
) -> None:
    down = LiveApi("http://127.0.0.1:9", live_api.settings, live_api.server)
    app = open_app(api=down)
    assert_no_exception(app)
    assert any(
        "The API at http://127.0.0.1:9 is not answering" in error.value for error in app.error
    )
