"""Makes any :class:`ChatClient` dependable enough to run unattended inside a pipeline.

Providers fail in ordinary ways (rate limits, overloaded servers, dropped connections), so
retryable failures are retried (by tenacity) a bounded number of times with exponential
backoff and full jitter, honouring a provider's ``Retry-After`` up to a limit. Each call has
an overall deadline, kept by every socket operation of its requests (see ``deadlines``) and
by the retries, which stop rather than wait past it: a server that trickles its answer ends
as a timeout. A provider that keeps failing (timeouts included) is rested by a circuit
breaker, so a run falls back quickly instead of waiting out every retry of every call;
permanent errors (bad credentials, unknown model) count toward it too, because they make
the provider just as unusable. A semaphore caps the requests one process has in flight, and
a call waits a bounded time for one of its slots. Running totals of calls, failures and
tokens feed run metadata and costs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from prosora_pipelines.lib.llm.chat import (
    TIMED_OUT,
    ChatClient,
    ChatCompletion,
    ChatRequest,
    CircuitOpenError,
    DeadlineSpentError,
    NoFreeSlotError,
    ProviderError,
    RetryableProviderError,
    TokenUsage,
)
from prosora_pipelines.lib.llm.deadlines import deadline_in, seconds_left

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

    def record_no_verdict(self) -> None:
        """A call ended without the provider having answered it (no free slot): it says
        nothing of the provider's health, but a half-open breaker may try another."""
        with self._lock:
            self._trial_in_flight = False


class ResilientChatClient:
    """Wraps ``inner`` with retries, a deadline, a circuit breaker, a concurrency cap and
    usage totals.

    Thread-safe: one instance is meant to be shared by every thread of a process.
    """

    def __init__(
        self,
        inner: ChatClient,
        *,
        max_retries: int,
        backoff_seconds: float,
        max_retry_after: float,
        deadline_seconds: float,
        breaker_failures: int,
        breaker_reset_seconds: float,
        max_concurrency: int,
        slot_wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_seconds, clock)
        self._max_retries = max_retries
        self._deadline_seconds = deadline_seconds
        self._max_concurrency = max_concurrency
        self._slot_wait_seconds = slot_wait_seconds
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._backoff = wait_random_exponential(multiplier=backoff_seconds)
        self._retrying = Retrying(
            retry=retry_if_exception_type(RetryableProviderError),
            wait=self._wait,
            stop=stop_any(
                stop_after_attempt(max_retries + 1),
                stop_before_delay(deadline_seconds),
                _RetryAfterOver(max_retry_after, inner.name),
            ),
            sleep=sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
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
        """The provider's answer, within this client's deadline for one call and within any
        deadline the caller set around it (a query's for all its calls)."""
        left = seconds_left()
        if left is not None and left <= 0:
            raise DeadlineSpentError(f"{self.name}: the time given to these LLM calls is spent")
        # A call cut short by its caller's deadline rather than its own says nothing of the
        # provider's health when it times out.
        cut_short = left is not None and left < self._deadline_seconds
        self.breaker.admit(self.name)
        with self._totals_lock:
            self._calls += 1
        try:
            with deadline_in(self._deadline_seconds) as deadline:
                # A copy per call, as tenacity's own decorator makes, so that threads
                # sharing this client do not share one retry state.
                completion = self._retrying.copy()(self._attempt, request, deadline)
        except NoFreeSlotError:
            self.breaker.record_no_verdict()
            self._count_failure()
            raise
        except ProviderError as error:
            if cut_short and error.category == TIMED_OUT:
                self.breaker.record_no_verdict()
            else:
                self.breaker.record_failure()
            self._count_failure()
            raise
        except BaseException:  # even an interrupt must settle a half-open trial call
            self.breaker.record_failure()
            self._count_failure()
            raise
        self.breaker.record_success()
        with self._totals_lock:
            self._usage += completion.usage
        return completion

    def _count_failure(self) -> None:
        with self._totals_lock:
            self._failures += 1

    def _attempt(self, request: ChatRequest, deadline: float) -> ChatCompletion:
        # One slot per attempt: a call waiting out its backoff must not block others.
        wait = min(self._slot_wait_seconds, max(deadline - time.monotonic(), 0.0))
        if not self._slots.acquire(timeout=wait):
            raise NoFreeSlotError(
                f"{self.name}: all {self._max_concurrency} slots stayed taken for {wait:.1f}s"
            )
        try:
            return self.inner.complete(request)
        finally:
            self._slots.release()

    def _wait(self, state: RetryCallState) -> float:
        """The provider's ``Retry-After`` when it gave one, else jittered backoff."""
        error = _failure(state)
        if error is not None and error.retry_after is not None:
            return error.retry_after
        return self._backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        logger.warning(
            "%s: attempt %d of %d failed (%s); retrying in %.2fs",
            self.name,
            state.attempt_number,
            self._max_retries + 1,
            _failure(state),
            state.upcoming_sleep,
        )


class _RetryAfterOver(stop_base):
    """Gives up when the provider asks to wait longer than ``limit`` seconds: the caller is
    better served by falling back at once."""

    def __init__(self, limit: float, source: str) -> None:
        self._limit = limit
        self._source = source

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = _failure(retry_state)
        if error is None or error.retry_after is None or error.retry_after <= self._limit:
            return False
        logger.warning(
            "%s: provider asked to wait %.0fs, over the %.0fs limit; giving up",
            self._source,
            error.retry_after,
            self._limit,
        )
        return True


def _failure(state: RetryCallState) -> RetryableProviderError | None:
    """The retryable error the last attempt raised (the only kind that is retried)."""
    error = state.outcome.exception() if state.outcome is not None else None
    return error if isinstance(error, RetryableProviderError) else None
