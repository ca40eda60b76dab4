"""Builds the chat client the settings ask for, wrapped in the resilience layer, so the
rest of the code base never names a provider. The extractive generator needs no client.

Each provider's module, and so its SDK, is imported only when that provider is asked for:
the SDKs are slow to import, and a process should pay for the one SDK it uses only.
"""

from __future__ import annotations

from prosora_pipelines.lib.llm.chat import ChatClient
from prosora_pipelines.lib.llm.resilience import ResilientChatClient
from prosora_pipelines.settings import Settings

BACKOFF_SECONDS = 0.5
MAX_RETRY_AFTER = 30.0


def make_chat_client(settings: Settings) -> ResilientChatClient:
    """The configured provider's client, with retries, deadline, breaker and concurrency cap."""
    return ResilientChatClient(
        _provider_client(settings),
        max_retries=settings.llm_max_retries,
        backoff_seconds=BACKOFF_SECONDS,
        max_retry_after=MAX_RETRY_AFTER,
        deadline_seconds=settings.llm_deadline_seconds,
        breaker_failures=settings.llm_breaker_failures,
        breaker_reset_seconds=settings.llm_breaker_reset_seconds,
        max_concurrency=settings.llm_max_concurrency,
        slot_wait_seconds=settings.llm_slot_wait_seconds,
    )


def _provider_client(settings: Settings) -> ChatClient:
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    model = settings.llm_model
    base_url = settings.llm_base_url
    timeout = settings.llm_timeout
    match settings.generator:
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
                f"the {settings.generator!r} generator writes drafts without an LLM; "
                "it needs no chat client"
            )
