"""What every page shares: the API client for this browser session, and showing an API
failure as the sentence it is (never a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from prosora_pipelines.app.client import ApiClient
from prosora_pipelines.app.problems import ApiRequestError

T = TypeVar("T")
API_URL = "api_url"
API_TOKEN = "api_token"


CLIENT = "api_client"


def client() -> ApiClient:
    """The client for this session's API address and token (``main`` sets both), kept for
    the session so its connections are reused, and replaced when either changes."""
    wanted = (st.session_state[API_URL], st.session_state.get(API_TOKEN))
    kept: tuple[tuple[str, str | None], ApiClient] | None = st.session_state.get(CLIENT)
    if kept is not None and kept[0] == wanted:
        return kept[1]
    if kept is not None:
        kept[1].close()
    made = ApiClient(*wanted)
    st.session_state[CLIENT] = (wanted, made)
    return made


def show_problem(problem: ApiRequestError) -> None:
    st.error(problem.message, icon=":material/error:")
    if problem.details:
        st.markdown("\n".join(f"- {line}" for line in problem.details))


def shown(request: Callable[[], T]) -> T | None:
    """The answer of ``request``, or None after showing why the API could not give it."""
    try:
        return request()
    except ApiRequestError as problem:
        show_problem(problem)
        return None
