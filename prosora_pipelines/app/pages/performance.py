"""Performance: predicted against actual engagement (with a calibration plot), the error by
format and by model version, the learning curve when the API reports one, and the learned
patterns with their intervals."""

from __future__ import annotations

import altair as alt
import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.session import client, shown

st.title("Performance")
report = shown(lambda: client().get("/analytics/performance"))
if report is not None:
    overall = report["overall"]
    posts, error, bias, rmse = st.columns(4)
    posts.metric("Posts with figures", overall["count"])
    error.metric("Mean absolute error", views.percent(overall["mean_absolute_error"], 2))
    bias.metric("Bias (predicted − actual)", views.percent(overall["bias"], 2))
    rmse.metric("RMSE", views.percent(overall["rmse"], 2))
    if not overall["count"]:
        st.info(
            "No recorded engagement yet: mark a draft posted and record its figures on the "
            "Feedback page, and predictions are compared with them here."
        )
    points = views.calibration_points(overall)
    if points:
        st.subheader("Calibration: predicted against actual")
        top = max(max(point["predicted %"], point["actual %"]) for point in points) * 1.1
        diagonal = (
            alt.Chart({"values": [{"x": 0.0, "y": 0.0}, {"x": top, "y": top}]})
            .mark_line(strokeDash=[4, 4], color="gray")
            .encode(x="x:Q", y="y:Q")
        )
        dots = (
            alt.Chart({"values": points})
            .mark_circle()
            .encode(
                x=alt.X("predicted %:Q", title="mean predicted (%)"),
                y=alt.Y("actual %:Q", title="mean actual (%)"),
                size="posts:Q",
                tooltip=["predicted %:Q", "actual %:Q", "posts:Q"],
            )
        )
        st.altair_chart(diagonal + dots)
    st.subheader("Error by format")
    st.dataframe(views.accuracy_rows(report["by_format"], "format"), hide_index=True)
    st.subheader("Error by model version")
    st.dataframe(views.accuracy_rows(report["by_predictor"], "model version"), hide_index=True)
    model = views.engagement_model(report)
    if model is not None:
        st.subheader("Engagement model against the prior and the baselines")
        st.caption(views.model_summary(model))
        st.dataframe(views.model_score_rows(model), hide_index=True)
        curve = views.learning_curve(report)
        if curve:
            st.subheader("Learning curve")
            st.line_chart(curve, x="observations")
    others = views.other_figures(report)
    if others:
        st.subheader("Other figures")
        st.json(others)

st.subheader("Learned patterns")
patterns = shown(lambda: client().get("/learning/patterns"))
if patterns is not None:
    if patterns:
        st.dataframe(views.pattern_rows(patterns), hide_index=True)
    else:
        st.info("No learned patterns yet: they appear once enough engagement is recorded.")
