"""Builds the chat client a configuration asks for, wrapped in the resilience layer, so the
rest of the code base never names a provider. The extractive generator needs no client.

Each provider's module, and so its SDK, is imported only when that provider is asked for:
the SDKs are slow to import, and a process should pay for the one SDK it uses only.
"""

from __future__ import annotations

from dataclasses import dataclass

from prosora_pipelines.lib.llm.chat import ChatClient
from prosora_pipelines.lib.llm.resilience import ResilientChatClient

BACKOFF_SECONDS = 0.5
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class ChatClientConfig:
    """Which provider to talk to and how patiently: the generator's name, its credentials
    and server, and the limits of the resilience layer around it."""

    generator: str
    api_key: str | None
    model: str | None
    base_url: str | None
    timeout: float
    max_retries: int
    deadline_seconds: float
    breaker_failures: int
    breaker_reset_seconds: float
    max_concurrency: int
    slot_wait_seconds: float


def make_chat_client(config: ChatClientConfig) -> ResilientChatClient:
    """The configured provider's client, with retries, deadline, breaker and concurrency cap."""
    return ResilientChatClient(
        _provider_client(config),
        max_retries=config.max_retries,
        backoff_seconds=BACKOFF_SECONDS,
        max_retry_after=MAX_RETRY_AFTER,
        deadline_seconds=config.deadline_seconds,
        breaker_failures=config.breaker_failures,
        breaker_reset_seconds=config.breaker_reset_seconds,
        max_concurrency=config.max_concurrency,
        slot_wait_seconds=config.slot_wait_seconds,
    )


def _provider_client(config: ChatClientConfig) -> ChatClient:
    api_key = config.api_key
    model = config.model
    base_url = config.base_url
    timeout = config.timeout
    match config.generator:
        case "gemini":
            from prosora_pipelines.lib.llm import gemini

            if not api_key:
                raise ValueError(
                    "the 'gemini' generator needs an API key: set PROSORA_LLM_API_KEY "
                    "(or GEMINI_API_KEY / GOOGLE_API_KEY)"
                )
            return gemini.GeminiChatClient(
                api_key, model or gemini.DEFAULT_MODEL, base_url, timeout
            )
        case "ollama":
            from prosora_pipelines.lib.llm import ollama

            return ollama.OllamaChatClient(
                model or ollama.DEFAULT_MODEL, base_url or ollama.DEFAULT_BASE_URL, timeout
            )
        case "openai":
            from prosora_pipelines.lib.llm import openai_compatible

            return openai_compatible.OpenAICompatibleChatClient(
                api_key,
                model or openai_compatible.DEFAULT_MODEL,
                base_url or openai_compatible.DEFAULT_BASE_URL,
                timeout,
            )
        case _:
            raise ValueError(
                f"the {config.generator!r} generator writes drafts without an LLM; "
                "it needs no chat client"
            )
