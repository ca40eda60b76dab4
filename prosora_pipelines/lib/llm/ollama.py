"""A local Ollama server behind :class:`ChatClient`: drafts without any API key or data
leaving the machine. Ollama serves OpenAI's chat-completions API at ``/v1`` (a JSON schema
constrains the output there too), so it is spoken to by the same client as OpenAI; its
base URL stays the server's root, as Ollama's own tools write it.
"""

from __future__ import annotations

from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient

DEFAULT_MODEL = "llama3.1"
DEFAULT_BASE_URL = "http://127.0.0.1:11434"


class OllamaChatClient(OpenAICompatibleChatClient):
    provider = "ollama"

    def __init__(
        self, model: str = DEFAULT_MODEL, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0
    ) -> None:
        super().__init__(None, model, base_url, timeout)

    def _api_url(self) -> str:
        return f"{self.base_url}/v1"
