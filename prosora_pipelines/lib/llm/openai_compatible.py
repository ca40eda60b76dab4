"""Any server speaking OpenAI's chat-completions API behind :class:`ChatClient`: OpenAI
itself, or local and hosted look-alikes (vLLM, llama.cpp, LM Studio, OpenRouter). The key is
optional because local servers need none. A JSON schema is sent as a ``json_schema``
response format, which these servers use to constrain the output.
"""

from __future__ import annotations

from typing import Any

from prosora_pipelines.lib.llm.chat import (
    ChatCompletion,
    ChatRequest,
    TokenUsage,
    empty_answer,
    malformed_answer,
)
from prosora_pipelines.lib.llm.deadlines import http_client
from prosora_pipelines.lib.llm.json_over_http import post_json

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatibleChatClient:
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
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http_client(timeout, headers)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def __repr__(self) -> str:
        return f"OpenAICompatibleChatClient(model={self.model!r}, base_url={self.base_url!r})"

    def complete(self, request: ChatRequest) -> ChatCompletion:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ],
            "temperature": request.temperature,
            "max_tokens": request.max_output_tokens,
        }
        if request.json_schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        answer = self._post(payload)
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

    def _post(self, payload: dict[str, Any]) -> Any:
        return post_json(
            self._http,
            f"{self.base_url}/chat/completions",
            payload,
            source=self.name,
            secret=self._api_key,
        )


def _count(usage: object, field: str) -> int:
    value = usage.get(field) if isinstance(usage, dict) else None
    return value if isinstance(value, int) else 0
