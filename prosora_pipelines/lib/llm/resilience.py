"""Makes any :class:`ChatClient` dependable enough to run unattended inside a pipeline.

Providers fail in ordinary ways (rate limits, overloaded servers, dropped connections), so
retryable failures are retried a bounded number of times with exponential backoff and full
jitter, honouring a provider's ``Retry-After`` up to a limit. A provider that keeps failing
is rested by a circuit breaker, so a run falls back quickly instead of waiting out every
retry of every call; permanent errors (bad credentials, unknown model) count toward it too,
because they make the provider just as unusable. A semaphore caps the requests one process
has in flight, and running totals of calls, failures and tokens feed run metadata and costs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from prosora_pipelines.lib.fetching import backoff_delay
from prosora_pipelines.lib.llm.chat import (
    ChatClient,
    ChatCompletion,
    ChatRequest,
    CircuitOpenError,
    RetryableProviderError,
    TokenUsage,
)

logger = logging.getLogger(__name__)


class CircuitBreaker:
    """Closed until ``failures_to_open`` calls in a row fail; then open for ``reset_seconds``,
    refusing calls; then half-open, letting one trial call through to close or reopen it."""

    def __init__(
        self, failures_to_open: int, reset_seconds: float, clock: Callable[[], float]
    ) -> None:
        self._failures_to_open = failures_to_open
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def admit(self, source: str) -> None:
        """Let a call through, or raise :class:`CircuitOpenError` while the provider rests."""
        with self._lock:
            if self._opened_at is None:
                return
            resting_for = self._opened_at + self._reset_seconds - self._clock()
            if resting_for > 0:
                raise CircuitOpenError(
                    f"{source}: circuit open after repeated failures; "
                    f"next trial call in {resting_for:.1f}s"
                )
            if self._trial_in_flight:
                raise CircuitOpenError(f"{source}: circuit half-open; a trial call is running")
            self._trial_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            self._consecutive_failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive_failures += 1
            if self._trial_in_flight or self._consecutive_failures >= self._failures_to_open:
                self._opened_at = self._clock()
            self._trial_in_flight = False


class ResilientChatClient:
    """Wraps ``inner`` with retries, a circuit breaker, a concurrency cap and usage totals.

    Thread-safe: one instance is meant to be shared by every thread of a process.
    """

    def __init__(
        self,
        inner: ChatClient,
        *,
        max_retries: int,
        backoff_seconds: float,
        max_retry_after: float,
        breaker_failures: int,
        breaker_reset_seconds: float,
        max_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_seconds, clock)
        self._max_retries = max_retries
        self._backoff_seconds = backoff_seconds
        self._max_retry_after = max_retry_after
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._totals_lock = threading.Lock()
        self._usage = TokenUsage()
        self._calls = 0
        self._failures = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def usage(self) -> TokenUsage:
        """Tokens of every successful call so far."""
        with self._totals_lock:
            return self._usage

    @property
    def calls(self) -> int:
        """Calls the breaker let through, whatever their outcome."""
        with self._totals_lock:
            return self._calls

    @property
    def failures(self) -> int:
        """Calls that raised after all their retries."""
        with self._totals_lock:
            return self._failures

    def __repr__(self) -> str:
        return f"ResilientChatClient({self.name})"

    def complete(self, request: ChatRequest) -> ChatCompletion:
        self.breaker.admit(self.name)
        with self._totals_lock:
            self._calls += 1
        try:
            completion = self._complete_with_retries(request)
        except BaseException:  # even an interrupt must settle a half-open trial call
            self.breaker.record_failure()
            with self._totals_lock:
                self._failures += 1
            raise
        self.breaker.record_success()
        with self._totals_lock:
            self._usage += completion.usage
        return completion

    def _complete_with_retries(self, request: ChatRequest) -> ChatCompletion:
        attempt = 0
        while True:
            try:
                # One slot per attempt: a call waiting out its backoff must not block others.
                with self._slots:
                    return self.inner.complete(request)
            except RetryableProviderError as error:
                delay = self._retry_delay(error, attempt)
                attempt += 1
                logger.warning(
                    "%s: attempt %d of %d failed (%s); retrying in %.2fs",
                    self.name,
                    attempt,
                    self._max_retries + 1,
                    error,
                    delay,
                )
                self._sleep(delay)

    def _retry_delay(self, error: RetryableProviderError, attempt: int) -> float:
        """Seconds to wait before the next attempt; re-raises ``error`` when giving up."""
        if attempt >= self._max_retries:
            raise error
        if error.retry_after is None:
            return backoff_delay(attempt, self._backoff_seconds, self._rng)
        if error.retry_after > self._max_retry_after:
            logger.warning(
                "%s: provider asked to wait %.0fs, over the %.0fs limit; giving up",
                self.name,
                error.retry_after,
                self._max_retry_after,
            )
            raise error
        return error.retry_after
