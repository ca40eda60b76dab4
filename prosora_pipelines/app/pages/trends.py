"""Trends and digest: topics by growth, megatrends, and today's digest."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.session import client, shown

st.title("Trends and digest")
day = st.date_input("Digest for (UTC)", value=datetime.now(UTC).date(), key="digest_day")
st.subheader("Digest")
digest = shown(lambda: client().get_optional("/digest", {"date": day.isoformat()}))
st.markdown(views.digest_markdown(digest))

trends = shown(lambda: client().get("/trends"))
if trends is not None:
    st.caption(views.trend_window(trends))
    st.subheader("Topics")
    st.dataframe(views.topic_rows(trends), hide_index=True)
    st.subheader("Megatrends")
    st.dataframe(views.megatrend_rows(trends), hide_index=True)
