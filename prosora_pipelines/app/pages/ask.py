"""Ask: a question, the formats and how many variants; the answer streams in as the API
sends it (analysis, evidence, then each draft), and stays until the next question."""

from __future__ import annotations

from typing import Any

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.answer_view import (
    show_analysis,
    show_answer,
    show_draft,
    show_evidence,
)
from prosora_pipelines.app.problems import ApiRequestError
from prosora_pipelines.app.session import client, show_problem, shown

ANSWER = "answer"

st.title("Ask")
profile = shown(lambda: client().get("/users/me/profile")) or {}
with st.form("ask"):
    question = st.text_area(
        "Question", placeholder="AI regulation impact on fintech product strategy", key="question"
    )
    left, right = st.columns([3, 1])
    formats = left.multiselect(
        "Formats",
        views.FORMATS,
        default=profile.get("default_formats", list(views.FORMATS)),
        format_func=views.format_label,
        key="formats",
    )
    variants = right.number_input("Variants per format", 3, 4, 3, key="variants")
    with st.expander("More options"):
        most = st.number_input(
            "Evidence articles, at most (empty: as deep as the question needs)",
            min_value=1,
            max_value=20,
            value=None,
            key="max_evidence",
        )
    asked = st.form_submit_button("Ask", type="primary", key="ask_submit")

if asked:
    if not question.strip():
        st.warning("Type a question first.")
    elif not formats:
        st.warning("Pick at least one format.")
    else:
        st.session_state.pop(ANSWER, None)
        options = {"formats": formats, "variants_per_format": int(variants), "max_evidence": most}
        # What streams in is shown as it arrives, then replaced by the finished answer.
        live = st.empty()
        drafts: list[dict[str, Any]] = []
        try:
            with live.container(), st.status("Answering…", expanded=True) as status:
                for name, payload in client().stream_query(question.strip(), options):
                    if name == "analysis":
                        st.write("Analysis")
                        show_analysis(payload)
                        status.update(label="Finding evidence…")
                    elif name == "evidence":
                        st.write(f"Evidence: {len(payload)} articles")
                        show_evidence(payload)
                        status.update(label="Drafting…")
                    elif name == "variant":
                        drafts.append(payload)
                        show_draft(payload, len(drafts), [], [], interactive=False)
                    elif name == "done":
                        st.session_state[ANSWER] = payload
            live.empty()
        except ApiRequestError as problem:
            show_problem(problem)

result = st.session_state.get(ANSWER)
if result is not None:
    patterns = shown(lambda: client().get("/learning/patterns")) or []
    show_answer(result, patterns)
