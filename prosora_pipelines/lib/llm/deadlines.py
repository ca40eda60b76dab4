"""An overall deadline for an LLM call, kept by every socket operation of its requests.

httpx's timeouts bound each network operation (a connect, one read), never a request, so a
server that trickles its answer a byte at a time is never timed out. The HTTP clients made
here give each operation (connect, TLS handshake, write, read, the wait for a pooled
connection) at most the time left before the deadline set by :func:`deadline_in`, so a
request ends by the deadline whatever the server does and whenever it stalls: in the
headers or the body. Past the deadline the request fails with httpx's own timeout errors,
which the providers already treat as timeouts.

The deadline lives in a context variable because the Gemini SDK builds its requests
itself: the resilience layer sets it around a call, and the transport below the SDK reads
it. Requests made outside :func:`deadline_in` keep httpx's per-operation timeouts only.

A transport of our own means httpx no longer applies proxy settings from the environment,
so it does: HTTP(S) proxies named by ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY``, with
``NO_PROXY``'s exceptions, read once per client as httpx does.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, cast

import httpcore
import httpx

_deadline: ContextVar[float | None] = ContextVar("llm_call_deadline", default=None)


@contextlib.contextmanager
def deadline_in(seconds: float) -> Iterator[float]:
    """Requests made by :func:`http_client` clients inside this block end within ``seconds``
    of its start, or by the deadline of an enclosing block when that comes first (a query
    gives all its calls one deadline, each call has its own); yields the deadline, in
    ``time.monotonic()`` seconds."""
    at = time.monotonic() + seconds
    enclosing = _deadline.get()
    if enclosing is not None:
        at = min(at, enclosing)
    token = _deadline.set(at)
    try:
        yield at
    finally:
        _deadline.reset(token)


def seconds_left() -> float | None:
    """Seconds before the deadline of the enclosing :func:`deadline_in` block (negative once
    it has passed); None outside any."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def http_client(timeout: float, headers: Mapping[str, str] | None = None) -> httpx.Client:
    """An httpx client whose requests keep the deadline of the :func:`deadline_in` block
    they are made in; ``timeout`` bounds each network operation as usual."""
    return httpx.Client(timeout=timeout, headers=headers, transport=_DeadlineTransport())


def _within_deadline(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``error`` once it has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(
                ssl_context, server_hostname, _within_deadline(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_tcp(
                host,
                port,
                _within_deadline(timeout, httpcore.ConnectTimeout),
                local_address,
                socket_options,
            )
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_unix_socket(
                path, _within_deadline(timeout, httpcore.ConnectTimeout), socket_options
            )
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's errors as httpx's, most specific first, as httpx's own transport maps them.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)
_HTTPCORE_ERRORS = tuple(core for core, _ in _HTTPX_ERRORS)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except _HTTPCORE_ERRORS as error:
        mapped = next(ours for core, ours in _HTTPX_ERRORS if isinstance(error, core))
        raise mapped(str(error)) from error


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _DeadlineTransport(httpx.BaseTransport):
    """httpx's default transport, over a network backend that keeps the deadline, through
    the environment's proxy for the request's URL if there is one."""

    def __init__(self) -> None:
        self._ssl_context = httpx.create_ssl_context()
        self._proxies = {
            scheme: httpx.Proxy(url)
            for scheme, url in urllib.request.getproxies_environment().items()
            if scheme in ("http", "https", "all")
        }
        for proxy in self._proxies.values():
            if proxy.url.scheme not in ("http", "https"):
                raise ValueError(
                    f"LLM requests go through HTTP proxies only, not {proxy.url.scheme}"
                )
        self._pools: dict[str, httpcore.ConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool_for(self, url: httpx.URL) -> httpcore.ConnectionPool:
        proxy = None
        if not urllib.request.proxy_bypass(url.host):  # NO_PROXY
            proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        key = "direct" if proxy is None else str(proxy.url)
        with self._lock:
            if key not in self._pools:
                self._pools[key] = self._new_pool(proxy)
            return self._pools[key]

    def _new_pool(self, proxy: httpx.Proxy | None) -> httpcore.ConnectionPool:
        # httpx's default limits.
        limits: dict[str, Any] = {
            "max_connections": 100,
            "max_keepalive_connections": 20,
            "keepalive_expiry": 5.0,
            "network_backend": _DeadlineBackend(),
        }
        if proxy is None:
            return httpcore.ConnectionPool(ssl_context=self._ssl_context, **limits)
        return httpcore.HTTPProxy(
            proxy_url=httpcore.URL(
                scheme=proxy.url.raw_scheme,
                host=proxy.url.raw_host,
                port=proxy.url.port,
                target=proxy.url.raw_path,
            ),
            proxy_auth=proxy.raw_auth,
            proxy_headers=proxy.headers.raw,
            ssl_context=self._ssl_context,
            **limits,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        with _as_httpx_errors():
            pool_timeout = _within_deadline(timeouts.get("pool"), httpcore.PoolTimeout)
            response = self._pool_for(request.url).handle_request(
                httpcore.Request(
                    method=request.method,
                    url=httpcore.URL(
                        scheme=request.url.raw_scheme,
                        host=request.url.raw_host,
                        port=request.url.port,
                        target=request.url.raw_path,
                    ),
                    headers=request.headers.raw,
                    content=request.stream,
                    extensions={**request.extensions, "timeout": timeouts | {"pool": pool_timeout}},
                )
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            # A synchronous pool answers with a synchronous stream.
            stream=_ResponseStream(cast(Iterable[bytes], response.stream)),
            extensions=response.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
