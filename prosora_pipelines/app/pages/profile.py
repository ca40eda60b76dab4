"""Profile: the voice drafts are written in (voice, frameworks, phrases to use and avoid,
audience, default formats)."""

from __future__ import annotations

import streamlit as st

from prosora_pipelines.app import views
from prosora_pipelines.app.session import client, shown

st.title("Profile")
profile = shown(lambda: client().get("/users/me/profile"))
if profile is not None:
    if profile["is_default"]:
        st.caption("This is the built-in profile; saving makes it yours.")
    else:
        st.caption(f"Saved {views.minute(profile['updated_at'])}")
    with st.form("profile"):
        voice = st.text_area("Voice", profile["voice_description"], key="pf_voice")
        audience = st.text_input("Audience", profile["audience"], key="pf_audience")
        frameworks = st.text_area(
            "Frameworks (one a line)", "\n".join(profile["frameworks"]), key="pf_frameworks"
        )
        use, avoid = st.columns(2)
        phrases_to_use = use.text_area(
            "Phrases to use (one a line)", "\n".join(profile["phrases_to_use"]), key="pf_use"
        )
        phrases_to_avoid = avoid.text_area(
            "Phrases to avoid (one a line)", "\n".join(profile["phrases_to_avoid"]), key="pf_avoid"
        )
        formats = st.multiselect(
            "Default formats",
            views.FORMATS,
            default=profile["default_formats"],
            format_func=views.format_label,
            key="pf_formats",
        )
        if st.form_submit_button("Save", key="pf_save"):
            body = {
                "voice_description": voice,
                "audience": audience,
                "frameworks": views.phrases_from_text(frameworks),
                "phrases_to_use": views.phrases_from_text(phrases_to_use),
                "phrases_to_avoid": views.phrases_from_text(phrases_to_avoid),
                "default_formats": formats,
            }
            if shown(lambda: client().put("/users/me/profile", body)) is not None:
                st.success("Profile saved: the next drafts use it.")
