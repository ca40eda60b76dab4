"""Why: httpx's timeouts bound each read, not a request, so a provider trickling its answer
a byte at a time held a query for minutes, and a few such calls took every concurrency
slot so that other queries queued without any provider call. Every LLM call must end by
its deadline, whichever provider it goes to and whenever the server stalls, count as a
failure for the circuit breaker, and a call must wait only so long for a slot. Exercised
against loopback servers speaking each provider's wire format; deadlines are kept small
so the tests are quick."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from prosora_pipelines.lib.llm.chat import (
    ChatClient,
    ChatRequest,
    CircuitOpenError,
    DeadlineSpentError,
    NoFreeSlotError,
    ProviderError,
    RetryableProviderError,
)
from prosora_pipelines.lib.llm.deadlines import deadline_in
from prosora_pipelines.lib.llm.gemini import GeminiChatClient
from prosora_pipelines.lib.llm.ollama import OllamaChatClient
from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient
from prosora_pipelines.lib.llm.resilience import ResilientChatClient
from prosora_pipelines_tests.support.llm_servers import (
    LLMServer,
    WireFormat,
    rate_limited,
    slow,
    success,
    trickle,
)

REQUEST = ChatRequest(system="You write briefs.", user="Summarise the week.")
# Each read may take far longer than the server's pause between bytes, so only the
# deadline can end a trickled answer.
READ_TIMEOUT = 5.0
BYTE_EVERY = 0.05
DEADLINE = 0.4
# Room for a busy machine; a trickled answer takes over ten seconds in full.
SLACK = 0.5


def provider(wire_format: WireFormat, base_url: str) -> ChatClient:
    if wire_format == "gemini":
        return GeminiChatClient("test-key", base_url=base_url, timeout=READ_TIMEOUT)
    if wire_format == "ollama":
        return OllamaChatClient(base_url=base_url, timeout=READ_TIMEOUT)
    return OpenAICompatibleChatClient("test-key", base_url=base_url, timeout=READ_TIMEOUT)


def resilient(server: LLMServer, base_url: str | None = None, **limits: Any) -> ResilientChatClient:
    options: dict[str, Any] = {
        "max_retries": 2,
        "backoff_seconds": 0.01,
        "max_retry_after": 5.0,
        "deadline_seconds": DEADLINE,
        "breaker_failures": 1,
        "breaker_reset_seconds": 60.0,
        "max_concurrency": 4,
        "slot_wait_seconds": 5.0,
    } | limits
    inner = provider(server.wire_format, base_url or server.base_url)
    return ResilientChatClient(inner, **options)


@pytest.fixture(params=["gemini", "ollama", "openai"])
def server(request: pytest.FixtureRequest) -> Iterator[LLMServer]:
    with LLMServer(request.param) as running:
        yield running


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_a_trickled_answer_ends_at_the_deadline_and_opens_the_breaker(
    server: LLMServer, headers: bool
) -> None:
    server.default = trickle(BYTE_EVERY, headers=headers)
    client = resilient(server)
    started = time.monotonic()
    with pytest.raises(RetryableProviderError) as caught:
        client.complete(REQUEST)
    took = time.monotonic() - started
    assert caught.value.category == "timed out"
    assert DEADLINE <= took < DEADLINE + SLACK
    assert len(server.requests) == 1  # no retry starts past the deadline
    assert client.breaker.is_open and client.failures == 1
    with pytest.raises(CircuitOpenError):
        client.complete(REQUEST)


def test_the_deadline_covers_retries_and_the_waits_between_them(server: LLMServer) -> None:
    server.default = rate_limited(retry_after="1")
    client = resilient(server, max_retries=5, deadline_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(RetryableProviderError) as caught:
        client.complete(REQUEST)
    took = time.monotonic() - started
    assert caught.value.category == "rate limited"
    # Asked to wait a second each time: a second attempt fits, a third would not.
    assert len(server.requests) == 2
    assert 1.0 <= took < 1.0 + SLACK


def test_a_deadline_leaves_later_calls_their_own_time(server: LLMServer) -> None:
    server.script(trickle(BYTE_EVERY))
    client = resilient(server, breaker_failures=5)
    with pytest.raises(RetryableProviderError):
        client.complete(REQUEST)
    server.default = success(delay=DEADLINE / 2)
    assert client.complete(REQUEST).text == '{"answer": 42}'


def _hold_the_only_slot(client: ResilientChatClient, server: LLMServer) -> threading.Thread:
    """A thread whose call takes the client's one slot, whatever becomes of it."""

    def call() -> None:
        with contextlib.suppress(ProviderError):
            client.complete(REQUEST)

    holder = threading.Thread(target=call)
    holder.start()
    while not server.requests:
        time.sleep(0.01)
    return holder


def test_a_call_waits_for_a_slot_only_so_long_and_spares_the_breaker(server: LLMServer) -> None:
    server.script(slow(0.6))
    client = resilient(server, max_concurrency=1, slot_wait_seconds=0.2, deadline_seconds=5.0)
    holder = _hold_the_only_slot(client, server)
    started = time.monotonic()
    with pytest.raises(NoFreeSlotError) as caught:
        client.complete(REQUEST)
    took = time.monotonic() - started
    holder.join()
    assert caught.value.category == "busy"
    assert 0.2 <= took < 0.2 + SLACK
    assert len(server.requests) == 1  # the waiting call never reached the provider
    assert not client.breaker.is_open
    assert (client.calls, client.failures) == (2, 1)


def test_the_wait_for_a_slot_ends_by_the_deadline_too(server: LLMServer) -> None:
    server.default = slow(1.0)
    client = resilient(server, max_concurrency=1, slot_wait_seconds=30.0, breaker_failures=5)
    holder = _hold_the_only_slot(client, server)
    started = time.monotonic()
    # The slot frees when the holder's deadline passes, just before this call's own.
    with pytest.raises(ProviderError) as caught:
        client.complete(REQUEST)
    took = time.monotonic() - started
    holder.join()
    assert caught.value.category in {"busy", "timed out"}
    assert took < DEADLINE + SLACK


def test_requests_go_through_the_environments_proxy_and_keep_the_deadline(
    server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    # The loopback server stands in for a forward proxy: it answers whatever it is sent.
    monkeypatch.setenv("HTTP_PROXY", f"http://user:pass@127.0.0.1:{server.port}")
    upstream = server.base_url.replace(f"127.0.0.1:{server.port}", "llm.example.invalid")
    client = resilient(server, upstream, max_retries=0, breaker_failures=5)
    assert client.complete(REQUEST).text == '{"answer": 42}'
    server.default = trickle(BYTE_EVERY)
    started = time.monotonic()
    with pytest.raises(RetryableProviderError, match="no answer in time"):
        client.complete(REQUEST)
    assert time.monotonic() - started < DEADLINE + SLACK
    sent = server.requests[0]
    assert sent.path.startswith("http://llm.example.invalid/")
    assert sent.headers["proxy-authorization"] == "Basic dXNlcjpwYXNz"  # user:pass


def test_calls_share_their_callers_deadline_which_spares_the_breaker(server: LLMServer) -> None:
    """A query gives all its LLM calls one deadline: a call ends by it even when its own is
    later, a timeout it caused is not held against the provider, and a call asked for once
    it has passed never reaches the provider."""
    server.default = trickle(BYTE_EVERY)
    client = resilient(server, deadline_seconds=5.0)  # breaker_failures 1: one failure opens it
    started = time.monotonic()
    with deadline_in(DEADLINE):
        with pytest.raises(RetryableProviderError) as caught:
            client.complete(REQUEST)
        took = time.monotonic() - started
        assert caught.value.category == "timed out"
        assert DEADLINE <= took < DEADLINE + SLACK
        assert not client.breaker.is_open and client.failures == 1
        with pytest.raises(DeadlineSpentError) as spent:
            client.complete(REQUEST)
    assert spent.value.category == "timed out"
    assert len(server.requests) == 1
    server.default = success()
    assert client.complete(REQUEST).text == '{"answer": 42}'  # outside it, the call's own
