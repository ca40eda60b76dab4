"""Why: each page is one thing a writer does with the API (reopen a past answer, record what
a post earned, import a platform export, see how predictions fared, read trends, check
sources, edit their voice). Driven against the real API, each must do it and show the API's
refusals as sentences."""

from __future__ import annotations

import httpx
from streamlit.testing.v1 import AppTest

from prosora_pipelines_tests.api.conftest import QUERY_OPTIONS, QUERY_TEXT
from prosora_pipelines_tests.app.conftest import LiveApi, OpenApp, assert_no_exception, texts


def _asked(api: LiveApi, email: str, text: str = QUERY_TEXT) -> dict:  # type: ignore[type-arg]
    response = httpx.post(
        f"{api.url}/api/v1/queries",
        json={"text": text, "options": QUERY_OPTIONS},
        headers={"Authorization": f"Bearer {api.token(email)}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    answer: dict = response.json()  # type: ignore[type-arg]
    return answer


def test_history_filters_and_reopens_a_past_question(open_app: OpenApp, live_api: LiveApi) -> None:
    email = "historian@example.com"
    first = _asked(live_api, email, "AI regulation impact on fintech product strategy")
    _asked(live_api, email, "how payments startups price AI agents")
    app = open_app("pages/history.py", email=email)
    assert_no_exception(app)
    questions = list(app.dataframe[0].value["question"])
    assert questions == [
        "how payments startups price AI agents",
        "AI regulation impact on fintech product strategy",
    ]
    app.selectbox(key="history_format").set_value("x_thread")
    app.button(key="history_filter").click().run()
    assert "No questions match these filters" in texts(app)
    app.selectbox(key="history_format").set_value(None)
    app.button(key="history_filter").click().run()
    app.selectbox(key="history_pick").set_value(first["query_id"])
    app.button(key="history_reopen").click().run()
    assert_no_exception(app)
    assert [block.value for block in app.code] == [v["text"] for v in first["variants"]]
    assert first["text"] in [header.value for header in app.header]


def test_feedback_records_figures_and_reports_the_rate(
    open_app: OpenApp, live_api: LiveApi
) -> None:
    email = "recorder@example.com"
    answer = _asked(live_api, email)
    variant_id = answer["variants"][1]["id"]
    app = open_app("pages/feedback.py", email=email)
    app.selectbox(key="fb_variant").set_value(variant_id)
    app.run()
    for name, value in {"impressions": 2000, "reactions": 50, "comments": 7, "shares": 3}.items():
        app.number_input(key=f"fb_{name}").set_value(value)
    app.button(key="fb_record").click().run()
    assert_no_exception(app)
    assert "Recorded: engagement rate 3.00 % from 2000 impressions." in texts(app)
    # More interactions than impressions is refused by the API, and said so.
    app.number_input(key="fb_impressions").set_value(10)
    app.button(key="fb_record").click().run()
    assert any("The API could not use what was sent" in e.value for e in app.error)


def test_a_csv_with_an_error_imports_nothing_and_lists_it_by_line(
    open_app: OpenApp, live_api: LiveApi
) -> None:
    email = "importer@example.com"
    answer = _asked(live_api, email)
    good, other = answer["variants"][0]["id"], answer["variants"][1]["id"]
    csv = (
        "variant_id,platform,posted_at,impressions,reactions,comments,shares\n"
        f"{good},linkedin,{answer['created_at']},1000,20,3,1\n"
        f"{other},linkedin,{answer['created_at']},100,90,30,1\n"
    ).encode()
    app = open_app("pages/feedback.py", email=email)
    app.file_uploader(key="fb_csv").upload("export.csv", csv, "text/csv")
    app.run()
    app.button(key="fb_import").click().run()
    assert_no_exception(app)
    assert any("nothing imported" in error.value for error in app.error)
    assert "- line 3" in texts(app)
    performance = httpx.get(
        f"{live_api.url}/api/v1/analytics/performance",
        headers={"Authorization": f"Bearer {live_api.token(email)}"},
    ).json()
    assert performance["overall"]["count"] == 0
    fixed = csv.replace(b",100,90,30,1", b",100,9,3,1")
    app.file_uploader(key="fb_csv").set_value(("export.csv", fixed, "text/csv"))
    app.run()
    app.button(key="fb_import").click().run()
    assert "Imported: 2 new, 0 updated." in texts(app)


def test_performance_compares_predictions_with_recorded_figures(
    open_app: OpenApp, live_api: LiveApi
) -> None:
    email = "analyst@example.com"
    app = open_app("pages/performance.py", email=email)
    assert "No recorded engagement yet" in texts(app)
    assert "No learned patterns yet" in texts(app)
    answer = _asked(live_api, email)
    variant = answer["variants"][0]
    response = httpx.post(
        f"{live_api.url}/api/v1/variants/{variant['id']}/feedback",
        json={
            "platform": "linkedin",
            "posted_at": answer["created_at"],
            "impressions": 1000,
            "reactions": 40,
            "comments": 5,
            "shares": 5,
        },
        headers={"Authorization": f"Bearer {live_api.token(email)}"},
    )
    assert response.status_code == 201, response.text
    app.run()
    assert_no_exception(app)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Posts with figures"] == "1"
    error = abs(variant["prediction"]["rate"] - 0.05) * 100
    assert metrics["Mean absolute error"] == f"{error:.2f} %"
    by_format = app.dataframe[0].value
    assert list(by_format["format"]) == ["LinkedIn post"]
    assert app.get("vega_lite_chart"), "no calibration plot"


def test_trends_show_topics_by_growth_and_say_when_there_is_no_digest(open_app: OpenApp) -> None:
    app = open_app("pages/trends.py")
    assert_no_exception(app)
    shown = texts(app)
    # The digest endpoint is not served by this API (yet): the page says so, no error.
    assert "No digest" in shown
    assert not app.error
    topics = app.dataframe[0].value
    growth = [float(g.rstrip("%")) for g in topics["growth"] if g != "new"]
    assert growth == sorted(growth, reverse=True) and growth
    assert len(app.dataframe[1].value) > 0  # megatrends


def test_sources_list_the_catalog_with_health(open_app: OpenApp) -> None:
    app = open_app("pages/sources.py")
    assert_no_exception(app)
    rows = app.dataframe[0].value
    assert len(rows) == 15
    # The sample's sources all answered when it was materialized.
    assert set(rows["health"]) == {"healthy"}
    assert list(rows["source"]) == sorted(rows["source"])
    assert {metric.label: metric.value for metric in app.metric}["Sources"] == "15"


def test_profile_edits_are_saved_and_used_by_ask(open_app: OpenApp) -> None:
    app = open_app("pages/profile.py")
    assert "built-in profile" in texts(app)
    app.text_area(key="pf_voice").input("Dry, precise, British spelling.")
    app.text_area(key="pf_use").input("the numbers say\nin short")
    app.multiselect(key="pf_formats").set_value(["x_thread"])
    app.button(key="pf_save").click().run()
    assert_no_exception(app)
    assert "Profile saved" in texts(app)
    app.run()
    assert app.text_area(key="pf_voice").value == "Dry, precise, British spelling."
    assert app.text_area(key="pf_use").value == "the numbers say\nin short"
    assert "Saved " in texts(app)
    # A phrase both used and avoided is refused by the API, in words.
    app.text_area(key="pf_avoid").input("in short")
    app.button(key="pf_save").click().run()
    assert any("The API could not use what was sent" in e.value for e in app.error)
    app.switch_page("pages/ask.py").run()
    assert app.multiselect(key="formats").value == ["x_thread"]


def test_without_a_token_the_app_asks_for_one_and_refuses_a_bad_one(live_api: LiveApi) -> None:
    from prosora_pipelines_tests.app.conftest import APP_SCRIPT

    app = AppTest.from_file(str(APP_SCRIPT), default_timeout=60)
    app.session_state["api_url"] = live_api.url
    app.run()
    assert [title.value for title in app.title] == ["Sign in to Prosora"]
    app.text_input(key="sign_in_token").input("not-a-token")
    app.button(key="sign_in").click().run()
    assert any("did not accept your token" in error.value for error in app.error)
    app.text_input(key="sign_in_token").input(live_api.token("signed-in@example.com"))
    app.button(key="sign_in").click().run()
    assert_no_exception(app)
    assert [title.value for title in app.title] == ["Ask"]
