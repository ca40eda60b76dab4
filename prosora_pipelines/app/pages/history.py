"""History: your past questions, filtered by format and day, and any one reopened with its
evidence and drafts."""

from __future__ import annotations

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.answer_view import show_answer
from prosora_pipelines.app.session import client, shown

st.title("History")
with st.form("history-filters"):
    kind, start, end, size = st.columns(4)
    chosen_format = kind.selectbox(
        "Format",
        [None, *views.FORMATS],
        format_func=lambda name: "any" if name is None else views.format_label(name),
        key="history_format",
    )
    since = start.date_input("From (UTC)", value=None, key="history_since")
    until = end.date_input("To (UTC)", value=None, key="history_until")
    limit = size.number_input("Show", 1, 100, 20, key="history_limit")
    st.form_submit_button("Filter", key="history_filter")

page = shown(
    lambda: client().get(
        "/users/me/history", views.history_params(chosen_format, since, until, int(limit))
    )
)
if page is not None:
    queries = page["queries"]
    if not queries:
        st.info("No questions match these filters yet. Ask one on the Ask page.")
    else:
        rows = views.history_rows(queries)
        st.dataframe(
            rows,
            hide_index=True,
            column_order=("asked", "question", "formats", "drafts", "status"),
        )
        labels = {row["id"]: f"{row['asked']} · {row['question']}" for row in rows}
        chosen = st.selectbox(
            "Reopen", list(labels), format_func=labels.__getitem__, key="history_pick"
        )
        if st.button("Reopen", key="history_reopen"):
            st.session_state["reopened"] = chosen
        reopened = st.session_state.get("reopened")
        if reopened:
            stored = shown(lambda: client().get(f"/queries/{reopened}"))
            if stored is not None:
                st.divider()
                st.header(stored["text"])
                st.caption(f"Asked {views.minute(stored['created_at'])}")
                patterns = shown(lambda: client().get("/learning/patterns")) or []
                show_answer(views.stored_as_result(stored), patterns)
