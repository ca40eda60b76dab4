"""POSTing JSON to an LLM server and reading its JSON answer, with every failure mapped to
the provider errors of ``chat``: shared by the providers spoken to over plain HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from prosora_pipelines.lib.fetching import retry_after_seconds
from prosora_pipelines.lib.llm.chat import (
    error_for_status,
    malformed_answer,
    timed_out,
    unreachable,
)


def failure_explanation(response: httpx.Response) -> str:
    """What the server said went wrong: ``{"error": "..."}`` (Ollama) or
    ``{"error": {"message": "..."}}`` (OpenAI and look-alikes), else the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    match body:
        case {"error": {"message": str(message)}}:
            return message
        case {"error": str(message)}:
            return message
    return response.text


def post_json(
    http: httpx.Client,
    url: str,
    payload: dict[str, Any],
    *,
    source: str,
    secret: str | None = None,
) -> Any:
    """The decoded JSON answer to ``payload``; ``source`` names the provider in errors, and
    ``secret`` (the API key) is removed from anything the server echoes back."""
    try:
        response = http.post(url, json=payload)
    except httpx.TimeoutException as error:
        raise timed_out(source, error) from None
    except httpx.TransportError as error:
        raise unreachable(source, error) from None
    if response.status_code >= 400:
        raise error_for_status(
            source,
            response.status_code,
            failure_explanation(response),
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            secret=secret,
        )
    try:
        return response.json()
    except ValueError:
        raise malformed_answer(source, "answer is not JSON") from None
