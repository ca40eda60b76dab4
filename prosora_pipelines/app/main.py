"""The writers' app: signs in (a token from PROSORA_API_TOKEN, or typed on a form) and lays
out the pages. Run it with ``prosora app``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from prosora_pipelines.app.session import API_TOKEN, API_URL, client, shown
from prosora_pipelines.settings import get_settings

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="Prosora", page_icon=":material/edit:", layout="wide")

if API_URL not in st.session_state:
    settings = get_settings()
    st.session_state[API_URL] = settings.api_url
    if settings.api_token is not None:
        st.session_state[API_TOKEN] = settings.api_token.get_secret_value()

if not st.session_state.get(API_TOKEN):
    st.title("Sign in to Prosora")
    st.caption(f"API: {st.session_state[API_URL]}")
    with st.form("sign-in"):
        token = st.text_input(
            "API token",
            type="password",
            help="A token for your account, e.g. from `prosora token create --user YOU`.",
            key="sign_in_token",
        )
        if st.form_submit_button("Sign in", key="sign_in"):
            st.session_state[API_TOKEN] = token.strip()
            if shown(lambda: client().get("/users/me/profile")) is None:
                del st.session_state[API_TOKEN]
            else:
                st.rerun()
    st.stop()

navigation = st.navigation(
    [
        st.Page(PAGES / "ask.py", title="Ask", icon=":material/chat:", default=True),
        st.Page(PAGES / "history.py", title="History", icon=":material/history:"),
        st.Page(PAGES / "feedback.py", title="Feedback", icon=":material/edit_note:"),
        st.Page(PAGES / "performance.py", title="Performance", icon=":material/insights:"),
        st.Page(PAGES / "trends.py", title="Trends and digest", icon=":material/trending_up:"),
        st.Page(PAGES / "sources.py", title="Sources", icon=":material/rss_feed:"),
        st.Page(PAGES / "profile.py", title="Profile", icon=":material/record_voice_over:"),
    ]
)
with st.sidebar:
    st.caption(f"API: {st.session_state[API_URL]}")
    if st.button("Sign out", key="sign_out"):
        del st.session_state[API_TOKEN]
        st.rerun()
navigation.run()
