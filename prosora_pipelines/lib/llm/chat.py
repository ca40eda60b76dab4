"""The one interface every LLM provider implements: a system and a user message in, text
(JSON when a schema is given) and token usage out.

Providers raise only the errors below, so callers decide about retrying and falling back
without knowing which provider answered. Error messages never contain an API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class ChatRequest:
    system: str
    user: str
    # A JSON schema the answer must follow; providers pass it on as structured-output mode.
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.2
    max_output_tokens: int = 4096


@dataclass(frozen=True)
class ChatCompletion:
    text: str
    usage: TokenUsage
    model: str


class ProviderError(Exception):
    """An LLM call that did not produce an answer."""


class RetryableProviderError(ProviderError):
    """Worth another try: a timeout, a dropped connection, 429 or 5xx."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Retrying will not help: bad credentials, unknown model, a refused request."""


class CircuitOpenError(ProviderError):
    """The circuit breaker is open: the provider failed repeatedly and is being rested."""


# Client errors a later attempt may get past (request timeout, rate limit); every 5xx may too.
_RETRYABLE_4XX = frozenset({408, 429})


def error_for_status(
    source: str,
    status: int,
    explanation: str,
    *,
    retry_after: float | None = None,
    secret: str | None = None,
) -> ProviderError:
    """The error for an HTTP error answer: 408, 429 and 5xx are retryable, other 4xx are not.

    The server's explanation is kept short and scrubbed of ``secret``, because some servers
    echo the API key they refused.
    """
    if secret:
        explanation = explanation.replace(secret, "[redacted]")
    message = f"{source}: HTTP {status} {explanation.strip()[:300]}".rstrip()
    if status in _RETRYABLE_4XX or status >= 500:
        return RetryableProviderError(message, retry_after)
    return PermanentProviderError(message)


class ChatClient(Protocol):
    """One LLM provider. ``name`` reads like ``gemini:gemini-2.5-flash``."""

    @property
    def name(self) -> str: ...

    def complete(self, request: ChatRequest) -> ChatCompletion: ...
