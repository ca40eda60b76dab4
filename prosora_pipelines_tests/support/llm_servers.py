"""A real HTTP server on loopback that answers like an LLM provider (Gemini, Ollama's
OpenAI-compatible ``/v1`` endpoint, or another OpenAI-compatible server), scripted request
by request: good answers with given token
counts, empty answers, garbage bodies, JSON of the wrong shape, 429 with Retry-After, 5xx,
refusals, slow answers and answers trickled a byte at a time.

It records every request (path, headers, JSON body) and the most requests it had in flight
at once, so tests can check what a client sent and how hard it pushed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from prosora_pipelines.lib.llm.chat import ChatClient
from prosora_pipelines.lib.llm.resilience import ResilientChatClient
from prosora_pipelines_tests.support.loopback_http import LoopbackHTTPServer, Received, Reply

WireFormat = Literal["gemini", "ollama", "openai"]
GOOGLE_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


# An error message such as gateways and proxies send: the URL they called, with credentials
# and a key, an internal host and address, an Authorization header and an echoed API key.
LEAKY_ERROR_SECRETS = (
    "admin",
    "hunter2",
    "llm-gateway.corp.example",
    "sk-live-0a1b2c3d4e5f6a7b",
    "db-7.corp.example.com",
    "10.0.3.7",
    "eyJhbGciOiJIUzI1NiJ9",
)
LEAKY_ERROR = (
    "upstream https://admin:hunter2@llm-gateway.corp.example:8443/v1/chat?key=sk-live-0a1b2c3d4e5f6a7b"
    " failed for db-7.corp.example.com (10.0.3.7:5432) with Authorization: Bearer"
    " eyJhbGciOiJIUzI1NiJ9.c2VjcmV0 and password=hunter2"
)
LEAKY_ERROR_REDACTED = (
    "upstream https://[host]/v1/chat failed for [host] ([host]) with Authorization"
)


QUICK_LIMITS: dict[str, Any] = {
    "max_retries": 2,
    "backoff_seconds": 0.01,
    "max_retry_after": 1.0,
    "deadline_seconds": 10.0,
    "breaker_failures": 5,
    "breaker_reset_seconds": 60.0,
    "max_concurrency": 2,
    "slot_wait_seconds": 1.0,
}


def resilient(inner: ChatClient, **limits: Any) -> ResilientChatClient:
    """``inner`` behind the resilience layer, with waits short enough for tests;
    ``limits`` override any of ``QUICK_LIMITS``."""
    return ResilientChatClient(inner, **(QUICK_LIMITS | limits))


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request."""

    status: int = 200
    text: str = '{"answer": 42}'
    prompt_tokens: int = 11
    completion_tokens: int = 7
    finish_reason: str = "STOP"
    delay: float = 0.0
    raw_body: bytes | None = None
    """Sent as is, instead of an answer in the server's wire format."""
    error_message: str = "something went wrong"
    headers: dict[str, str] = field(default_factory=dict)
    retry_delay: str | None = None
    """Gemini only: a ``RetryInfo`` detail in the error body, such as ``"7s"``."""
    trickle_seconds: float | None = None
    """Seconds between bytes of the answer, sent one at a time instead of at once."""
    trickle_headers: bool = False
    """Trickle the status line and headers too, not only the body."""


def success(
    text: str = '{"answer": 42}',
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
    delay: float = 0.0,
) -> Behaviour:
    return Behaviour(
        text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, delay=delay
    )


def empty_answer(finish_reason: str = "SAFETY") -> Behaviour:
    return Behaviour(text="", finish_reason=finish_reason)


def malformed() -> Behaviour:
    return Behaviour(raw_body=b"<html>upstream proxy error</html>")


def unexpected_json() -> Behaviour:
    return Behaviour(raw_body=b'{"status": "ok", "result": []}')


def rate_limited(retry_after: str | None = None, retry_delay: str | None = None) -> Behaviour:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Behaviour(
        status=429, error_message="rate limit reached", headers=headers, retry_delay=retry_delay
    )


def server_error(status: int = 500) -> Behaviour:
    return Behaviour(status=status, error_message="internal error")


def refused(status: int = 401, message: str = "invalid API key") -> Behaviour:
    return Behaviour(status=status, error_message=message)


def slow(seconds: float) -> Behaviour:
    return Behaviour(delay=seconds)


def trickle(seconds_per_byte: float, *, headers: bool = False, status: int = 200) -> Behaviour:
    """A good answer (or an error of ``status``) sent one byte every ``seconds_per_byte``,
    from its first header byte when ``headers``, else once its headers are out."""
    return Behaviour(status=status, trickle_seconds=seconds_per_byte, trickle_headers=headers)


def error_with(status: int, message: str) -> Behaviour:
    """An error answer whose message says what the server likes (hosts, keys...)."""
    return Behaviour(status=status, error_message=message)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any


class LLMServer(LoopbackHTTPServer):
    """Answers in ``wire_format`` on 127.0.0.1 at a free port, in background threads.

    Requests take behaviours from the queue filled by :meth:`script`, then ``default``.
    """

    def __init__(self, wire_format: WireFormat, default: Behaviour | None = None) -> None:
        super().__init__()
        self.wire_format = wire_format
        self.default = default or success()
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What the client for this wire format takes as its ``base_url``."""
        return f"{self.root_url}/v1" if self.wire_format == "openai" else self.root_url

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def __enter__(self) -> LLMServer:
        super().__enter__()
        return self

    def answer(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.path,
                    request.headers,
                    json.loads(request.body) if request.body else None,
                )
            )
            behaviour = self._queue.popleft() if self._queue else self.default
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            time.sleep(behaviour.delay)
            return self._reply(behaviour)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _reply(self, behaviour: Behaviour) -> Reply:
        if behaviour.raw_body is not None:
            body = behaviour.raw_body
        elif behaviour.status >= 400:
            body = json.dumps(self._error_body(behaviour)).encode()
        else:
            body = json.dumps(self._success_body(behaviour)).encode()
        return Reply(
            behaviour.status,
            body,
            {"Content-Type": "application/json", **behaviour.headers},
            trickle_seconds=behaviour.trickle_seconds,
            trickle_headers=behaviour.trickle_headers,
        )

    def _success_body(self, behaviour: Behaviour) -> dict[str, Any]:
        prompt, completion = behaviour.prompt_tokens, behaviour.completion_tokens
        if self.wire_format == "gemini":
            candidate: dict[str, Any] = {"finishReason": behaviour.finish_reason, "index": 0}
            if behaviour.text:
                candidate["content"] = {"role": "model", "parts": [{"text": behaviour.text}]}
            return {
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": prompt,
                    "candidatesTokenCount": completion,
                    "totalTokenCount": prompt + completion,
                },
                "modelVersion": "gemini-test",
            }
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_735_689_600,
            "model": "llama-test" if self.wire_format == "ollama" else "gpt-test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": behaviour.text or None},
                    "finish_reason": behaviour.finish_reason.lower(),
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _error_body(self, behaviour: Behaviour) -> dict[str, Any]:
        if self.wire_format == "gemini":
            error: dict[str, Any] = {
                "code": behaviour.status,
                "message": behaviour.error_message,
                "status": GOOGLE_STATUS_NAMES.get(behaviour.status, "UNKNOWN"),
            }
            if behaviour.retry_delay is not None:
                error["details"] = [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": behaviour.retry_delay,
                    }
                ]
            return {"error": error}
        return {"error": {"message": behaviour.error_message, "type": "error", "code": None}}
