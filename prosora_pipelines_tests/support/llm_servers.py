"""A real HTTP server on loopback that answers like an LLM provider (Gemini, Ollama or an
OpenAI-compatible server), scripted request by request: good answers with given token
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

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


class LLMServer:
    """Answers in ``wire_format`` on 127.0.0.1 at a free port, in background threads.

    Requests take behaviours from the queue filled by :meth:`script`, then ``default``.
    """

    def __init__(self, wire_format: WireFormat, default: Behaviour | None = None) -> None:
        self.wire_format = wire_format
        self.default = default or success()
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle's algorithm
            # and delayed ACKs add 40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        # A short poll interval makes shutdown, and so each test, fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """What the client for this wire format takes as its ``base_url``."""
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.wire_format == "openai" else root

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raw = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.path,
                    {name.lower(): value for name, value in request.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            behaviour = self._queue.popleft() if self._queue else self.default
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            time.sleep(behaviour.delay)
            self._answer(request, behaviour)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: BaseHTTPRequestHandler, behaviour: Behaviour) -> None:
        if behaviour.raw_body is not None:
            body = behaviour.raw_body
        elif behaviour.status >= 400:
            body = json.dumps(self._error_body(behaviour)).encode()
        else:
            body = json.dumps(self._success_body(behaviour)).encode()
        headers = {"Content-Type": "application/json", **behaviour.headers}
        headers["Content-Length"] = str(len(body))
        try:
            if behaviour.trickle_seconds is None:
                request.send_response(behaviour.status)
                for name, value in headers.items():
                    request.send_header(name, value)
                request.end_headers()
                request.wfile.write(body)
            else:
                self._trickle(request, behaviour, behaviour.trickle_seconds, headers, body)
        except (BrokenPipeError, ConnectionResetError):
            return

    @staticmethod
    def _trickle(
        request: BaseHTTPRequestHandler,
        behaviour: Behaviour,
        seconds_per_byte: float,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        head = f"HTTP/1.1 {behaviour.status} Answer\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        raw = head.encode() + b"\r\n" + body
        if not behaviour.trickle_headers:
            request.wfile.write(raw[: len(head) + 2])
            raw = body
        for byte in raw:
            request.wfile.write(bytes([byte]))
            request.wfile.flush()
            time.sleep(seconds_per_byte)

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
        if self.wire_format == "ollama":
            return {
                "model": "llama-test",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": behaviour.text},
                "done": True,
                "done_reason": behaviour.finish_reason.lower(),
                "prompt_eval_count": prompt,
                "eval_count": completion,
            }
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "gpt-test",
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
        if self.wire_format == "ollama":
            return {"error": behaviour.error_message}
        return {"error": {"message": behaviour.error_message, "type": "error", "code": None}}
