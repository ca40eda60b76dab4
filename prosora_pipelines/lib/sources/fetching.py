"""Polite concurrent fetching of many sources, where no source can hurt another.

Concurrency is bounded globally and per host; each request has connect and read timeouts,
and each source one deadline for all its attempts together, so a server that trickles its
body a byte at a time costs at most that deadline (read timeouts only catch silence).
Connect and read timeouts, 429 and 5xx answers are retried (by tenacity) a bounded number
of times with exponential backoff and full jitter, honouring ``Retry-After``; a source whose
deadline passed is not retried. Only transport, HTTP, size and file errors become a failed
fetch; anything else is a bug and propagates. Bodies are read
as a stream and abandoned past a size limit. ETag and Last-Modified validators make an
unchanged feed cost one 304. ``file://`` URLs are served from disk with a validator made of
the file's size and modification time, so the offline sample behaves like the web.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import certifi
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one batch of fetches. The one home of the fetch defaults: the
    ``PROSORA_FETCH_*`` settings take theirs from here and build a policy with
    :meth:`Settings.fetch_policy`."""

    concurrency: int = 32
    per_host_concurrency: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    source_deadline: float = 30.0
    """Seconds for all attempts at one source together, from its first attempt's start."""
    max_retries: int = 2
    backoff_seconds: float = 0.5
    max_retry_after: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "ProsoraPipelines/0.1 (+https://github.com/prosora/prosora-pipelines)"


@dataclass(frozen=True)
class CacheValidators:
    """What a server told us to send back to learn whether a resource changed."""

    etag: str | None = None
    last_modified: str | None = None

    @property
    def empty(self) -> bool:
        return self.etag is None and self.last_modified is None


@dataclass(frozen=True)
class FetchRequest:
    key: str
    url: str
    validators: CacheValidators = field(default_factory=CacheValidators)


@dataclass(frozen=True)
class FetchResult:
    """Everything known about one fetch, success or not. ``body`` is None unless new content."""

    key: str
    url: str
    final_url: str
    started_at: datetime
    elapsed_seconds: float
    status: int | None
    bytes_read: int
    not_modified: bool
    attempts: int
    validators: CacheValidators
    body: bytes | None = None
    content_type: str | None = None
    error_class: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_class is None


class FetchError(Exception):
    """A fetch that failed for a reason worth a name in the source's health record."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ResponseTooLargeError(FetchError):
    pass


class HTTPStatusFetchError(FetchError):
    pass


class DeadlineExceededError(FetchError):
    """The source's deadline passed: slow bodies are not retried, the time is spent."""


FETCH_FAILURES: tuple[type[Exception], ...] = (
    FetchError,
    httpx.HTTPError,  # transport errors, timeouts, redirect loops, undecodable bodies
    httpx.InvalidURL,
    OSError,  # file:// sources: missing, unreadable
)
"""What a fetch may fail with and still be the source's fault; anything else is our bug."""


@dataclass
class _Attempt:
    status: int | None
    body: bytes | None
    bytes_read: int
    not_modified: bool
    validators: CacheValidators
    final_url: str
    content_type: str | None


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, base: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, base * 2**attempt]."""
    return rng.uniform(0.0, base * (2**attempt))


def _retryable(error: BaseException) -> bool:
    """Worth another attempt: silence (connect or read timeout), a dropped connection, or
    an answer the server marks as temporary (429, 5xx). Not a passed deadline."""
    if isinstance(error, FetchError):
        return error.status in RETRYABLE_STATUSES
    return isinstance(error, httpx.TimeoutException | httpx.NetworkError)


def _file_validators(path: Path) -> CacheValidators:
    stat = path.stat()
    return CacheValidators(etag=f'"file-{stat.st_size}-{stat.st_mtime_ns}"')


def _read_file(url: str, validators: CacheValidators, max_bytes: int) -> _Attempt:
    path = Path(url2pathname(unquote(urlsplit(url).path)))
    current = _file_validators(path)
    if not validators.empty and validators.etag == current.etag:
        return _Attempt(304, None, 0, True, current, url, None)
    size = path.stat().st_size
    if size > max_bytes:
        raise ResponseTooLargeError(f"file is {size} bytes, over the {max_bytes}-byte limit")
    body = path.read_bytes()
    return _Attempt(200, body, len(body), False, current, url, None)


class Fetcher:
    """Fetches batches of URLs under one :class:`FetchPolicy`."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy
        self._transport = transport
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._tls = ssl.create_default_context(cafile=certifi.where())

    def _client(self) -> httpx.AsyncClient:
        policy = self.policy
        return httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                pool=None,
            ),
            limits=httpx.Limits(
                max_connections=policy.concurrency, max_keepalive_connections=policy.concurrency
            ),
            verify=self._tls,
            follow_redirects=True,
            max_redirects=policy.max_redirects,
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate"},
            transport=self._transport,
        )

    async def fetch_many(
        self,
        requests: Sequence[FetchRequest],
        on_result: Callable[[FetchResult], Awaitable[None]] | None = None,
        *,
        within: float | None = None,
    ) -> list[FetchResult]:
        """Fetch every request; results keep the order of ``requests``. A failed fetch is a
        result, not an exception. ``within`` bounds the whole batch in seconds (each request
        still has its own deadline), for fetches that spend one source's time."""
        global_slots = asyncio.Semaphore(self.policy.concurrency)
        host_slots: dict[str, asyncio.Semaphore] = {}
        not_after = None if within is None else asyncio.get_running_loop().time() + within
        async with self._client() as client:

            async def run(request: FetchRequest) -> FetchResult:
                host = urlsplit(request.url).netloc.lower()
                slots = host_slots.setdefault(
                    host, asyncio.Semaphore(self.policy.per_host_concurrency)
                )
                result = await self._fetch_with_retries(
                    client, request, global_slots, slots, not_after
                )
                if on_result is not None:
                    await on_result(result)
                return result

            return list(await asyncio.gather(*(run(request) for request in requests)))

    async def _fetch_with_retries(
        self,
        client: httpx.AsyncClient,
        request: FetchRequest,
        global_slots: asyncio.Semaphore,
        host_slots: asyncio.Semaphore,
        not_after: float | None,
    ) -> FetchResult:
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        loop = asyncio.get_running_loop()
        attempts = 0
        # Loop time by which every attempt at this source must be over: set when the first
        # attempt gets its slots (waiting behind other sources is not this source's fault).
        deadline = not_after

        async def attempt() -> _Attempt:
            nonlocal attempts, deadline
            with_deadline = asyncio.timeout_at(deadline)
            try:
                # Host slot first: waiting for a busy host must not hold a global slot.
                async with with_deadline, host_slots, global_slots:
                    attempts += 1
                    if attempts == 1:
                        own = loop.time() + self.policy.source_deadline
                        deadline = own if deadline is None else min(own, deadline)
                        with_deadline.reschedule(deadline)
                    return await self._attempt(client, request)
            except TimeoutError:
                if not with_deadline.expired():
                    raise
                raise DeadlineExceededError(
                    f"no complete answer before the deadline: {time.perf_counter() - clock:.1f} s "
                    f"over {attempts} attempt{'s' if attempts > 1 else ''}"
                ) from None

        def give_up(state: RetryCallState) -> bool:
            if state.attempt_number > self.policy.max_retries:
                return True
            error = state.outcome.exception() if state.outcome else None
            retry_after = error.retry_after if isinstance(error, FetchError) else None
            if retry_after is not None and retry_after > self.policy.max_retry_after:
                return True
            return deadline is not None and loop.time() + state.upcoming_sleep >= deadline

        retrying: AsyncRetrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=self._retry_delay,
            stop=give_up,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            fetched: _Attempt = await retrying(attempt)
        except FETCH_FAILURES as exc:
            return self._failure(request, exc, started_at, clock, attempts)
        return FetchResult(
            key=request.key,
            url=request.url,
            final_url=fetched.final_url,
            started_at=started_at,
            elapsed_seconds=time.perf_counter() - clock,
            status=fetched.status,
            bytes_read=fetched.bytes_read,
            not_modified=fetched.not_modified,
            attempts=attempts,
            validators=fetched.validators,
            body=fetched.body,
            content_type=fetched.content_type,
        )

    def _retry_delay(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the server's ``Retry-After``, else full jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, FetchError) and error.retry_after is not None:
            return error.retry_after
        return backoff_delay(state.attempt_number - 1, self.policy.backoff_seconds, self._rng)

    def _failure(
        self,
        request: FetchRequest,
        exc: Exception,
        started_at: datetime,
        clock: float,
        attempts: int,
    ) -> FetchResult:
        status = exc.status if isinstance(exc, FetchError) else None
        message = str(exc) or exc.__class__.__name__
        return FetchResult(
            key=request.key,
            url=request.url,
            final_url=request.url,
            started_at=started_at,
            elapsed_seconds=time.perf_counter() - clock,
            status=status,
            bytes_read=0,
            not_modified=False,
            attempts=attempts,
            validators=request.validators,
            error_class=exc.__class__.__name__,
            error_message=message[:500],
        )

    async def _attempt(self, client: httpx.AsyncClient, request: FetchRequest) -> _Attempt:
        if urlsplit(request.url).scheme == "file":
            return await asyncio.to_thread(
                _read_file, request.url, request.validators, self.policy.max_bytes
            )
        headers: dict[str, str] = {}
        if request.validators.etag:
            headers["If-None-Match"] = request.validators.etag
        if request.validators.last_modified:
            headers["If-Modified-Since"] = request.validators.last_modified
        async with client.stream("GET", request.url, headers=headers) as response:
            validators = CacheValidators(
                etag=response.headers.get("ETag") or request.validators.etag,
                last_modified=response.headers.get("Last-Modified")
                or request.validators.last_modified,
            )
            final_url = str(response.url)
            if response.status_code == 304:
                return _Attempt(304, None, 0, True, validators, final_url, None)
            if response.status_code >= 400:
                raise HTTPStatusFetchError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    status=response.status_code,
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                )
            body = await self._read_limited(response)
            return _Attempt(
                response.status_code,
                body,
                len(body),
                False,
                validators,
                final_url,
                response.headers.get("Content-Type"),
            )

    async def _read_limited(self, response: httpx.Response) -> bytes:
        limit = self.policy.max_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(
                f"Content-Length {declared} is over the {limit}-byte limit",
                status=response.status_code,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLargeError(
                    f"body passed the {limit}-byte limit; stopped reading",
                    status=response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)
