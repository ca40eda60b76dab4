"""Google Gemini through the official ``google-genai`` SDK, behind :class:`ChatClient`.

The SDK's own retries are switched off: :mod:`resilience` owns retrying, so every attempt
is counted, logged and held to one backoff policy whatever the provider. The SDK is handed
our own ``httpx`` client, because left alone it may pick another HTTP library whose
exceptions we would not recognise, and because ours keeps the call's deadline. SDK and
transport errors are translated into retryable or permanent provider errors, with messages
built here rather than taken from the SDK, whose errors carry the whole response body.
"""

from __future__ import annotations

import json
import re

import httpx
import pydantic
from google import genai
from google.genai import errors, types

from prosora_pipelines.lib.llm.chat import (
    ChatCompletion,
    ChatRequest,
    ProviderError,
    TokenUsage,
    empty_answer,
    error_for_status,
    malformed_answer,
    timed_out,
    unreachable,
)
from prosora_pipelines.lib.llm.deadlines import http_client
from prosora_pipelines.lib.sources.fetching import retry_after_seconds

DEFAULT_MODEL = "gemini-2.5-flash"
# Pinned so the request path does not move with the SDK's default or GOOGLE_GENAI_API_VERSION.
API_VERSION = "v1beta"
_RETRY_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


class GeminiChatClient:
    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self._api_key = api_key
        self._client = genai.Client(
            api_key=api_key,
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version=API_VERSION,
                timeout=round(timeout * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
                httpx_client=http_client(timeout),
            ),
        )

    @property
    def name(self) -> str:
        return f"gemini:{self.model}"

    def __repr__(self) -> str:
        return f"GeminiChatClient(model={self.model!r})"

    def complete(self, request: ChatRequest) -> ChatCompletion:
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
        )
        if request.json_schema is not None:
            config.response_mime_type = "application/json"
            config.response_json_schema = request.json_schema
        status_error: ProviderError | None = None
        try:
            response = self._client.models.generate_content(
                model=self.model, contents=request.user, config=config
            )
        except errors.APIError as error:
            status_error = self._provider_error(error)
        except httpx.TimeoutException as error:
            raise timed_out(self.name, error) from None
        except httpx.TransportError as error:
            raise unreachable(self.name, error) from None
        except (json.JSONDecodeError, errors.UnknownApiResponseError, pydantic.ValidationError):
            raise malformed_answer(self.name) from None
        if status_error is not None:
            # Raised outside the handler so the SDK error, which holds the whole response
            # body, is not kept as this error's context.
            raise status_error
        text = response.text
        if not text:
            why = _why_empty(response)
            if why is None:
                raise malformed_answer(self.name)
            raise empty_answer(self.name, why)
        return ChatCompletion(
            text=text, usage=_usage(response), model=response.model_version or self.model
        )

    def _provider_error(self, error: errors.APIError) -> ProviderError:
        explanation = " ".join(part for part in (error.status, error.message) if part)
        return error_for_status(
            self.name,
            error.code,
            explanation,
            retry_after=_retry_after(error),
            secret=self._api_key,
        )


def _usage(response: types.GenerateContentResponse) -> TokenUsage:
    metadata = response.usage_metadata
    if metadata is None:
        return TokenUsage()
    # Thinking tokens are billed as output, so they count as completion tokens.
    return TokenUsage(
        prompt_tokens=metadata.prompt_token_count or 0,
        completion_tokens=(metadata.candidates_token_count or 0)
        + (metadata.thoughts_token_count or 0),
    )


def _why_empty(response: types.GenerateContentResponse) -> str | None:
    """Why Gemini gave no text (a blocked prompt, a stop for safety...), or None when the
    answer does not say, which means it is not a Gemini answer at all."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return f"prompt blocked: {feedback.block_reason.value}"
    if response.candidates and response.candidates[0].finish_reason is not None:
        return f"finish reason: {response.candidates[0].finish_reason.value}"
    return None


def _retry_after(error: errors.APIError) -> float | None:
    """From a Retry-After header, else from the ``RetryInfo`` detail Google APIs send with 429."""
    if isinstance(error.response, httpx.Response):
        header = retry_after_seconds(error.response.headers.get("Retry-After"))
        if header is not None:
            return header
    match error.details:
        case {"error": {"details": list(details)}}:
            for detail in details:
                if isinstance(detail, dict) and str(detail.get("@type")).endswith("RetryInfo"):
                    found = _RETRY_DELAY.match(str(detail.get("retryDelay")))
                    if found:
                        return float(found.group(1))
    return None
