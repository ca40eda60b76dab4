"""A local Ollama server (``/api/chat``) behind :class:`ChatClient`: drafts without any
API key or data leaving the machine. A JSON schema goes in Ollama's ``format`` field, which
constrains the model's output to it.
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

DEFAULT_MODEL = "llama3.1"
DEFAULT_BASE_URL = "http://127.0.0.1:11434"


class OllamaChatClient:
    def __init__(
        self, model: str = DEFAULT_MODEL, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = http_client(timeout)

    @property
    def name(self) -> str:
        return f"ollama:{self.model}"

    def __repr__(self) -> str:
        return f"OllamaChatClient(model={self.model!r}, base_url={self.base_url!r})"

    def complete(self, request: ChatRequest) -> ChatCompletion:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ],
            "stream": False,
            "options": {
                "temperature": request.temperature,
                "num_predict": request.max_output_tokens,
            },
        }
        if request.json_schema is not None:
            payload["format"] = request.json_schema
        answer = self._post(payload)
        match answer:
            case {"message": {"content": str(text)}} if text:
                usage = TokenUsage(
                    prompt_tokens=_count(answer.get("prompt_eval_count")),
                    completion_tokens=_count(answer.get("eval_count")),
                )
                return ChatCompletion(text, usage, str(answer.get("model") or self.model))
            case {"message": {"content": ""}}:
                reason = answer.get("done_reason") or "unknown"
                raise empty_answer(self.name, f"done reason: {reason}")
            case _:
                raise malformed_answer(self.name)

    def _post(self, payload: dict[str, Any]) -> Any:
        return post_json(self._http, f"{self.base_url}/api/chat", payload, source=self.name)


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0
