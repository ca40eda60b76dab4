"""Any server speaking OpenAI's chat-completions API behind :class:`ChatClient`, through the
official ``openai`` SDK: OpenAI itself, local and hosted look-alikes (vLLM, llama.cpp, LM
Studio, OpenRouter), and Ollama through its ``/v1`` endpoint (see ``ollama``). The key is
optional because local servers need none. A JSON schema is sent as a ``json_schema``
response format, which these servers use to constrain the output.

As with Gemini, :mod:`resilience` owns retrying, so the SDK's own retries are off; the SDK
is handed our own ``httpx`` client, which keeps the call's deadline; and its errors are
translated into retryable or permanent provider errors with messages built here. The SDK
is told everything it needs, so it reads nothing of its own from the environment
(``OPENAI_API_KEY``, organisation and project): the settings are the one place for that.

The SDK builds its response objects without validating them, so the answer's shape is
checked here, on its JSON, to tell a good answer from an empty or malformed one whichever
look-alike sent it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

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

if TYPE_CHECKING:
    import httpx2

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Headers the SDK would fill from the environment; omitted from every request.
_NOT_FROM_THE_ENVIRONMENT = ("OpenAI-Organization", "OpenAI-Project")
# The SDK refuses to start without some key; local servers need none, and none is sent.
_NO_KEY = "unused"


class OpenAICompatibleChatClient:
    provider = "openai"

    def __init__(
        self,
        api_key: str | None,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._api_key = api_key
        omitted = _NOT_FROM_THE_ENVIRONMENT + (() if api_key else ("Authorization",))
        self._omitted_headers: dict[str, str | openai.Omit] = {
            name: openai.Omit() for name in omitted
        }
        self._client = openai.OpenAI(
            api_key=api_key or _NO_KEY,
            base_url=self._api_url(),
            timeout=timeout,
            max_retries=0,
            # The SDK takes an httpx client as well as an httpx2 one (checked when it
            # starts), though its annotation names httpx2 only.
            http_client=cast("httpx2.Client", http_client(timeout)),
        )

    def _api_url(self) -> str:
        """Where the chat-completions API is served, below ``base_url``."""
        return self.base_url

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def complete(self, request: ChatRequest) -> ChatCompletion:
        answer = self._answer_json(request)
        match answer:
            case {"choices": [{"message": {"content": str(text)}}, *_]} if text:
                usage = answer.get("usage")
                return ChatCompletion(
                    text,
                    TokenUsage(
                        prompt_tokens=_count(usage, "prompt_tokens"),
                        completion_tokens=_count(usage, "completion_tokens"),
                    ),
                    str(answer.get("model") or self.model),
                )
            case {"choices": [{"message": {"content": "" | None}} as choice, *_]}:
                reason = choice.get("finish_reason") or "unknown"
                raise empty_answer(self.name, f"finish reason: {reason}")
            case _:
                raise malformed_answer(self.name)

    def _answer_json(self, request: ChatRequest) -> Any:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ]
        response_format: ResponseFormatJSONSchema | openai.Omit = openai.Omit()
        if request.json_schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        status_error: ProviderError | None = None
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages,
                temperature=request.temperature,
                max_tokens=request.max_output_tokens,
                response_format=response_format,
                extra_headers=self._omitted_headers,
            )
            return raw.http_response.json()
        except openai.APIStatusError as error:
            status_error = self._provider_error(error.response)
        except openai.APITimeoutError as error:
            raise timed_out(self.name, _transport_error(error)) from None
        except openai.APIConnectionError as error:
            raise unreachable(self.name, _transport_error(error)) from None
        except ValueError:
            raise malformed_answer(self.name, "answer is not JSON") from None
        # Raised outside the handler so the SDK error, which holds the whole response body,
        # is not kept as this error's context.
        raise status_error

    def _provider_error(self, response: Any) -> ProviderError:
        return error_for_status(
            self.name,
            response.status_code,
            failure_explanation(response.text),
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            secret=self._api_key,
        )


def failure_explanation(body: str) -> str:
    """What the server said went wrong: ``{"error": {"message": "..."}}`` (OpenAI and
    look-alikes), ``{"error": "..."}`` (some look-alikes), else the raw body."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body
    match decoded:
        case {"error": {"message": str(message)}}:
            return message
        case {"error": str(message)}:
            return message
    return body


def _transport_error(error: openai.APIConnectionError) -> Exception:
    """The httpx error under the SDK's, whose own message says nothing of what happened."""
    cause = error.__cause__
    return cause if isinstance(cause, Exception) else error


def _count(usage: object, field: str) -> int:
    value = usage.get(field) if isinstance(usage, dict) else None
    return value if isinstance(value, int) else 0
