"""Polite concurrent fetching of many sources, where no source can hurt another.

Concurrency is bounded globally and per host; each request has connect and read timeouts
and an overall deadline; timeouts, 429 and 5xx answers are retried a bounded number of
times with exponential backoff and full jitter, honouring ``Retry-After``. Bodies are read
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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import certifi
import httpx

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one batch of fetches; defaults are those of :class:`Settings`."""

    concurrency: int = 32
    per_host_concurrency: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_retries: int = 2
    backoff_seconds: float = 0.5
    max_retry_after: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "ProsoraPipelines/0.1"

    @property
    def deadline_seconds(self) -> float:
        """Overall limit for one attempt, so a server dripping bytes cannot stall a run."""
        return self.connect_timeout + 3 * self.read_timeout


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
    ) -> list[FetchResult]:
        """Fetch every request; results keep the order of ``requests``. Never raises per URL."""
        global_slots = asyncio.Semaphore(self.policy.concurrency)
        host_slots: dict[str, asyncio.Semaphore] = {}
        async with self._client() as client:

            async def run(request: FetchRequest) -> FetchResult:
                host = urlsplit(request.url).netloc.lower()
                slots = host_slots.setdefault(
                    host, asyncio.Semaphore(self.policy.per_host_concurrency)
                )
                result = await self._fetch_with_retries(client, request, global_slots, slots)
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
    ) -> FetchResult:
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            try:
                # Host slot first: waiting for a busy host must not hold a global slot.
                async with host_slots, global_slots:
                    attempt = await asyncio.wait_for(
                        self._attempt(client, request), self.policy.deadline_seconds
                    )
                return FetchResult(
                    key=request.key,
                    url=request.url,
                    final_url=attempt.final_url,
                    started_at=started_at,
                    elapsed_seconds=time.perf_counter() - clock,
                    status=attempt.status,
                    bytes_read=attempt.bytes_read,
                    not_modified=attempt.not_modified,
                    attempts=attempts,
                    validators=attempt.validators,
                    body=attempt.body,
                    content_type=attempt.content_type,
                )
            except Exception as exc:  # every failure becomes a record, never a crash
                delay = self._retry_delay(exc, attempts)
                if delay is None:
                    return self._failure(request, exc, started_at, clock, attempts)
                await self._sleep(delay)

    def _retry_delay(self, exc: Exception, attempts: int) -> float | None:
        """Seconds to wait before trying again, or None when this failure is final."""
        if attempts > self.policy.max_retries:
            return None
        retryable = isinstance(exc, httpx.TimeoutException | TimeoutError | httpx.NetworkError)
        if isinstance(exc, FetchError) and exc.status in RETRYABLE_STATUSES:
            retryable = True
            if exc.retry_after is not None:
                if exc.retry_after > self.policy.max_retry_after:
                    return None
                return exc.retry_after
        if not retryable:
            return None
        return backoff_delay(attempts - 1, self.policy.backoff_seconds, self._rng)

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
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            message = f"no complete answer within {self.policy.deadline_seconds:.0f}s"
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


def without_body(result: FetchResult) -> FetchResult:
    """The same record without its body, for logs and tables."""
    return replace(result, body=None)
