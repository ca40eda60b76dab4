"""Feedback: what a posted draft earned, typed in or imported from a platform's CSV export
(a file with errors imports nothing and lists every error by line)."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.answer_view import PLATFORMS, POSTED
from prosora_pipelines.app.session import client, shown

st.title("Feedback")
st.subheader("Record what a draft earned")
page = shown(lambda: client().get("/users/me/history", {"limit": 50}))
choices = views.draft_choices(page["queries"]) if page else {}
posted = st.session_state.get(POSTED, {})
if page is not None and not choices:
    st.info("No drafts yet: ask a question first.")
elif choices:
    # Drafts marked posted in this session come first, with their platform and time.
    order = sorted(choices, key=lambda variant_id: variant_id not in posted)
    variant_id = st.selectbox("Draft", order, format_func=choices.__getitem__, key="fb_variant")
    platform_default, when_default = posted.get(variant_id, (PLATFORMS[0], None))
    when = views.parse_time(when_default) or datetime.now(UTC).replace(second=0, microsecond=0)
    with st.form("record-feedback"):
        left, middle, right = st.columns(3)
        platform = left.selectbox(
            "Platform", PLATFORMS, index=PLATFORMS.index(platform_default), key="fb_platform"
        )
        on = middle.date_input("Posted on (UTC)", value=when.date(), key="fb_day")
        at = right.time_input("at (UTC)", value=when.time(), key="fb_time")
        figures = st.columns(5)
        counts = {
            name: column.number_input(name.title(), min_value=0, step=1, key=f"fb_{name}")
            for column, name in zip(
                figures, ("impressions", "reactions", "comments", "shares", "clicks"), strict=True
            )
        }
        if st.form_submit_button("Record", key="fb_record"):
            body = {
                "platform": platform,
                "posted_at": datetime.combine(on, at, tzinfo=UTC).isoformat(),
                **{name: int(value) for name, value in counts.items()},
            }
            answer = shown(lambda: client().post(f"/variants/{variant_id}/feedback", body))
            if answer is not None:
                st.success(
                    f"Recorded: engagement rate {views.percent(answer['engagement_rate'], 2)} "
                    f"from {answer['impressions']} impressions."
                )

st.subheader("Import a platform export (CSV)")
st.caption(
    "Columns: variant_id, platform, posted_at (ISO 8601 with a timezone), impressions, "
    "reactions, comments, shares, optional clicks; platform export names are accepted too."
)
upload = st.file_uploader("CSV file", type=["csv"], key="fb_csv")
if upload is not None and st.button("Import", key="fb_import"):
    name, content = upload.name, upload.getvalue()
    imported = shown(lambda: client().upload("/feedback/import", name, content))
    if imported is not None:
        st.success(views.import_summary(imported))
