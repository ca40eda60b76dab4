"""Sources: the catalog with each source's health, failing sources first."""

from __future__ import annotations

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.session import client, shown

st.title("Sources")
sources = shown(lambda: client().get("/sources"))
if sources is not None:
    rows = views.source_rows(sources)
    failing = sum(row["health"].startswith("failing") for row in rows)
    total, bad = st.columns(2)
    total.metric("Sources", len(rows))
    bad.metric("Failing", failing)
    st.dataframe(rows, hide_index=True)
