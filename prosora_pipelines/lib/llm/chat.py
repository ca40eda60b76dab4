"""The one interface every LLM provider implements: a system and a user message in, text
(JSON when a schema is given) and token usage out.

Providers raise only the errors below, so callers decide about retrying and falling back
without knowing which provider answered. Each error has a short ``category`` from a fixed
set, the only part users see; its message, for logs, holds the provider's explanation
redacted (no API key, credentials or hostnames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from prosora_pipelines.lib.llm.redaction import redacted

# What users are told about a failed call; the provider's own words go to the log only.
RATE_LIMITED = "rate limited"
TIMED_OUT = "timed out"
UNREACHABLE = "unreachable"
MALFORMED_ANSWER = "malformed answer"
EMPTY_ANSWER = "empty answer"
CIRCUIT_OPEN = "circuit open"
NO_FREE_SLOT = "busy"


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
    """An LLM call that did not produce an answer: ``category`` says why in a few words
    fit for users; the message is for logs."""

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.category = category


class RetryableProviderError(ProviderError):
    """Worth another try: a timeout, a dropped connection, 429 or 5xx."""

    def __init__(self, message: str, category: str, retry_after: float | None = None) -> None:
        super().__init__(message, category)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Retrying will not help: bad credentials, unknown model, a refused request."""


class CircuitOpenError(ProviderError):
    """The circuit breaker is open: the provider failed repeatedly and is being rested."""

    def __init__(self, message: str) -> None:
        super().__init__(message, CIRCUIT_OPEN)


class DeadlineSpentError(ProviderError):
    """A call asked for after the time its caller gave all its calls had run out: refused
    before reaching the provider, which is not at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message, TIMED_OUT)


class NoFreeSlotError(ProviderError):
    """Every concurrency slot stayed taken for as long as a call may wait for one. The
    provider was not asked, so this says nothing about its health."""

    def __init__(self, message: str) -> None:
        super().__init__(message, NO_FREE_SLOT)


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

    The server's explanation is kept as a redacted excerpt, scrubbed of ``secret`` too,
    because some servers echo the API key they refused.
    """
    message = f"{source}: HTTP {status} {redacted(explanation, [secret])}".rstrip()
    category = {408: TIMED_OUT, 429: RATE_LIMITED}.get(status, f"provider error {status}")
    if status in _RETRYABLE_4XX or status >= 500:
        return RetryableProviderError(message, category, retry_after)
    return PermanentProviderError(message, category)


def timed_out(source: str, error: Exception) -> RetryableProviderError:
    """A request that ran out of time: one network operation's timeout, or the deadline of
    the whole call (see ``deadlines``)."""
    return RetryableProviderError(
        f"{source}: no answer in time ({type(error).__name__}: {redacted(str(error))})",
        TIMED_OUT,
    )


def unreachable(source: str, error: Exception) -> RetryableProviderError:
    return RetryableProviderError(
        f"{source}: connection failed ({type(error).__name__}: {redacted(str(error))})",
        UNREACHABLE,
    )


def malformed_answer(
    source: str, what: str = "answer is not the expected JSON"
) -> RetryableProviderError:
    return RetryableProviderError(f"{source}: {what}", MALFORMED_ANSWER)


def empty_answer(source: str, why: str) -> PermanentProviderError:
    """An answer without text; ``why`` is the provider's stated reason (redacted, as the
    server chose its words)."""
    return PermanentProviderError(
        f"{source}: no text in the answer ({redacted(why)})", EMPTY_ANSWER
    )


class ChatClient(Protocol):
    """One LLM provider. ``name`` reads like ``gemini:gemini-2.5-flash``."""

    @property
    def name(self) -> str: ...

    def complete(self, request: ChatRequest) -> ChatCompletion: ...
