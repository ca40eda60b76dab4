"""How an answered query is laid out (on Ask, and when History reopens one): the analysis,
the evidence with tiers and dates, and the drafts side by side, each with its citations,
predicted engagement and reasons, the patterns that shaped it, a copy button (the code
block's own) and a way to mark it posted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.session import client, shown

POSTED = "posted"
"""Session key: variant id -> (platform, posting time) of the drafts marked posted here,
so the Feedback page can offer the same platform and time (which replaces the figures)."""
PLATFORMS = ("linkedin", "x", "blog", "newsletter", "other")


def show_analysis(analysis: dict[str, Any]) -> None:
    columns = st.columns(5)
    for column, (label, value) in zip(columns, views.analysis_summary(analysis), strict=True):
        column.markdown(f"**{label}**  \n{value}")


def show_evidence(evidence: list[dict[str, Any]]) -> None:
    st.dataframe(
        views.evidence_rows(evidence),
        hide_index=True,
        column_config={"url": st.column_config.LinkColumn("article", display_text="open")},
    )


def show_draft(
    variant: dict[str, Any],
    number: int,
    applied: list[str],
    patterns: list[dict[str, Any]],
    interactive: bool,
) -> None:
    st.markdown(f"**{views.draft_heading(variant, number)}**")
    if variant.get("angle"):
        st.caption(str(variant["angle"]))
    st.code(str(variant.get("text", "")), language=None, wrap_lines=True)
    st.markdown(views.prediction_line(variant))
    reasons = views.prediction_reasons(variant)
    if reasons:
        st.markdown("\n".join(f"- {reason}" for reason in reasons))
    shaped = views.patterns_for_draft(variant, applied, patterns)
    st.caption("Shaped by: " + ("; ".join(shaped) if shaped else "no learned pattern yet"))
    links = views.citation_links(variant.get("citations", []))
    if links:
        st.markdown("\n".join(f"- {link}" for link in links))
    if interactive and variant.get("id"):
        _mark_posted(str(variant["id"]))


def _mark_posted(variant_id: str) -> None:
    posted = st.session_state.setdefault(POSTED, {})
    if variant_id in posted:
        platform, when = posted[variant_id]
        st.success(f"Posted on {platform} at {views.minute(when)}")
        return
    with st.popover("Mark posted"), st.form(f"posted-{variant_id}"):
        platform = st.selectbox("Platform", PLATFORMS, key=f"platform-{variant_id}")
        now = datetime.now(UTC)
        on = st.date_input("Posted on (UTC)", value=now.date(), key=f"day-{variant_id}")
        at = st.time_input(
            "at (UTC)", value=now.time().replace(second=0, microsecond=0), key=f"time-{variant_id}"
        )
        if st.form_submit_button("Mark posted", key=f"mark-{variant_id}"):
            when = datetime.combine(on, at, tzinfo=UTC)
            answer = shown(
                lambda: client().post(
                    f"/variants/{variant_id}/feedback", views.posted_feedback(platform, when)
                )
            )
            if answer is not None:
                posted[variant_id] = (platform, answer["posted_at"])
                st.rerun()


def show_drafts(result: dict[str, Any], patterns: list[dict[str, Any]], interactive: bool) -> None:
    applied = [str(pattern_id) for pattern_id in result.get("patterns_applied", [])]
    for name, variants in views.drafts_by_format(result.get("variants", [])).items():
        st.subheader(views.format_label(name))
        for column, (number, variant) in zip(
            st.columns(len(variants)), enumerate(variants, start=1), strict=True
        ):
            with column:
                show_draft(variant, number, applied, patterns, interactive)


def show_answer(result: dict[str, Any], patterns: list[dict[str, Any]]) -> None:
    """The whole answer, with the drafts' buttons."""
    notice = views.evidence_notice(result)
    if notice:
        st.warning(notice)
    st.subheader("Analysis")
    show_analysis(result.get("analysis") or {})
    st.subheader(f"Evidence ({len(result.get('evidence') or [])} articles)")
    show_evidence(result.get("evidence") or [])
    show_drafts(result, patterns, interactive=True)
