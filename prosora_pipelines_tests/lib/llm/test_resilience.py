"""Why: a pipeline run calls the LLM hundreds of times unattended, so transient failures
must be retried politely, a dead provider must be rested instead of hammered, one process
must not flood a provider, and token totals must be right because they become costs.
Exercised through a real client against a real HTTP server on loopback; only sleeping and
the clock are injected, so the tests are fast and exact."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from prosora_pipelines.lib.llm.chat import (
    ChatRequest,
    CircuitOpenError,
    NoFreeSlotError,
    PermanentProviderError,
    RetryableProviderError,
    TokenUsage,
)
from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient
from prosora_pipelines.lib.llm.resilience import ResilientChatClient
from prosora_pipelines_tests.support.llm_servers import (
    LLMServer,
    rate_limited,
    refused,
    server_error,
    slow,
    success,
)

REQUEST = ChatRequest(system="You write briefs.", user="Summarise the week.")
BACKOFF = 0.1
RESET_SECONDS = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer("openai") as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def resilient(
    server: LLMServer, clock: FakeClock, sleeps: list[float], **limits: Any
) -> ResilientChatClient:
    options: dict[str, Any] = {
        "max_retries": 2,
        "backoff_seconds": BACKOFF,
        "max_retry_after": 5.0,
        "deadline_seconds": 30.0,
        "breaker_failures": 3,
        "breaker_reset_seconds": RESET_SECONDS,
        "max_concurrency": 4,
        "slot_wait_seconds": 10.0,
    } | limits
    return ResilientChatClient(
        OpenAICompatibleChatClient(None, model="m", base_url=server.base_url, timeout=2.0),
        clock=clock,
        sleep=sleeps.append,
        **options,
    )


def test_rate_limits_are_retried_with_jittered_backoff(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(rate_limited(), rate_limited(), success())
    client = resilient(server, clock, sleeps)
    completion = client.complete(REQUEST)
    assert completion.text == '{"answer": 42}'
    assert len(server.requests) == 3
    # Full jitter: each wait is drawn from a window that doubles with each attempt.
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= BACKOFF and 0 <= sleeps[1] <= 2 * BACKOFF
    assert (client.calls, client.failures) == (1, 0)


def test_retry_after_is_honoured(server: LLMServer, clock: FakeClock, sleeps: list[float]) -> None:
    server.script(rate_limited(retry_after="2"), success())
    resilient(server, clock, sleeps).complete(REQUEST)
    assert sleeps == [2.0]


def test_retry_after_over_the_limit_gives_up_at_once(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(rate_limited(retry_after="3600"))
    with pytest.raises(RetryableProviderError) as caught:
        resilient(server, clock, sleeps).complete(REQUEST)
    assert caught.value.retry_after == 3600.0
    assert len(server.requests) == 1 and sleeps == []


def test_server_error_forever_fails_after_bounded_retries(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.default = server_error()
    client = resilient(server, clock, sleeps, max_retries=2)
    with pytest.raises(RetryableProviderError, match="500"):
        client.complete(REQUEST)
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert (client.calls, client.failures) == (1, 1)


def test_permanent_errors_are_not_retried(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(refused(404, "model not found"))
    with pytest.raises(PermanentProviderError, match="model not found"):
        resilient(server, clock, sleeps).complete(REQUEST)
    assert len(server.requests) == 1 and sleeps == []


def test_breaker_opens_after_failed_calls_and_refuses_without_requests(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.default = server_error()
    client = resilient(server, clock, sleeps, max_retries=1, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(RetryableProviderError):
            client.complete(REQUEST)
    assert client.breaker.is_open
    clock.now += RESET_SECONDS - 1
    for _ in range(3):
        with pytest.raises(CircuitOpenError, match="circuit open"):
            client.complete(REQUEST)
    assert len(server.requests) == 4  # two calls of two attempts each; nothing since
    assert (client.calls, client.failures) == (2, 2)


def test_permanent_errors_count_toward_the_breaker(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.default = refused(401)
    client = resilient(server, clock, sleeps, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(PermanentProviderError):
            client.complete(REQUEST)
    with pytest.raises(CircuitOpenError):
        client.complete(REQUEST)
    assert len(server.requests) == 2


def test_success_resets_the_count_of_consecutive_failures(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(server_error(), success(), server_error(), success())
    client = resilient(server, clock, sleeps, max_retries=0, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(RetryableProviderError):
            client.complete(REQUEST)
        client.complete(REQUEST)
    assert not client.breaker.is_open


def test_after_the_reset_time_a_successful_trial_closes_the_breaker(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.default = server_error()
    client = resilient(server, clock, sleeps, max_retries=0, breaker_failures=1)
    with pytest.raises(RetryableProviderError):
        client.complete(REQUEST)
    clock.now += RESET_SECONDS
    server.default = success()
    client.complete(REQUEST)
    assert not client.breaker.is_open
    client.complete(REQUEST)
    assert len(server.requests) == 3


def test_a_failed_trial_reopens_the_breaker_for_another_reset_time(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.default = server_error()
    client = resilient(server, clock, sleeps, max_retries=2, breaker_failures=1)
    with pytest.raises(RetryableProviderError):
        client.complete(REQUEST)
    clock.now += RESET_SECONDS
    with pytest.raises(RetryableProviderError):
        client.complete(REQUEST)  # the trial, with its retries
    assert len(server.requests) == 6
    clock.now += RESET_SECONDS - 1
    with pytest.raises(CircuitOpenError):
        client.complete(REQUEST)
    assert len(server.requests) == 6


def test_half_open_breaker_lets_only_one_trial_through(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(server_error(), success(delay=0.3))
    client = resilient(server, clock, sleeps, max_retries=0, breaker_failures=1)
    with pytest.raises(RetryableProviderError):
        client.complete(REQUEST)
    clock.now += RESET_SECONDS
    trial = threading.Thread(target=client.complete, args=(REQUEST,))
    trial.start()
    while len(server.requests) < 2:
        time.sleep(0.01)
    with pytest.raises(CircuitOpenError, match="trial call is running"):
        client.complete(REQUEST)
    trial.join()
    assert not client.breaker.is_open and len(server.requests) == 2


def test_a_trial_call_without_a_free_slot_leaves_the_next_call_a_trial(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(slow(1.0))
    client = resilient(
        server, clock, sleeps, breaker_failures=1, max_concurrency=1, slot_wait_seconds=0.1
    )
    holder = threading.Thread(target=client.complete, args=(REQUEST,))
    holder.start()
    while not server.requests:
        time.sleep(0.01)
    client.breaker.record_failure()
    clock.now += RESET_SECONDS
    for _ in range(2):  # each is let through as the trial, and finds no slot
        with pytest.raises(NoFreeSlotError):
            client.complete(REQUEST)
    holder.join()
    assert len(server.requests) == 1


def test_concurrency_cap_bounds_requests_in_flight(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.default = slow(0.2)
    client = resilient(server, clock, sleeps, max_concurrency=2)
    with ThreadPoolExecutor(max_workers=6) as pool:
        completions = list(pool.map(client.complete, [REQUEST] * 6))
    assert len(completions) == 6 and len(server.requests) == 6
    assert server.max_in_flight == 2
    assert client.usage == TokenUsage(prompt_tokens=6 * 11, completion_tokens=6 * 7)


def test_usage_totals_add_up_over_successful_calls_only(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    server.script(
        success(prompt_tokens=5, completion_tokens=3),
        refused(400, "bad request"),
        success(prompt_tokens=10, completion_tokens=20),
    )
    client = resilient(server, clock, sleeps)
    client.complete(REQUEST)
    with pytest.raises(PermanentProviderError):
        client.complete(REQUEST)
    client.complete(REQUEST)
    assert client.usage == TokenUsage(prompt_tokens=15, completion_tokens=23)
    assert client.usage.total_tokens == 38
    assert (client.calls, client.failures) == (3, 1)


def test_wrapper_keeps_the_providers_name(
    server: LLMServer, clock: FakeClock, sleeps: list[float]
) -> None:
    assert resilient(server, clock, sleeps).name == "openai:m"
