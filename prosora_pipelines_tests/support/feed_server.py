"""A real HTTP server on loopback that serves feeds the way publishers do, and misbehaves
on request: slow answers, bodies trickled a byte at a time, 5xx, 429 with Retry-After,
garbage, redirects, huge bodies.

Honours If-None-Match / If-Modified-Since with 304 like a well-behaved server, and counts
every request so tests can assert what was (not) fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path

from prosora_pipelines_tests.support.loopback_http import LoopbackHTTPServer, Received, Reply


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    delay: float = 0.0
    conditional: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    fail_times: int = 0
    """Answer ``status`` this many times, then 200 with ``body``."""
    redirect_to: str | None = None
    gzip_body: bool = False
    trickle_interval: float = 0.0
    """Send the body one byte at a time, this many seconds apart (headers go at once)."""


class FeedServer(LoopbackHTTPServer):
    """Serves ``routes`` (path → Route) on ``host`` at a free port, in background threads."""

    def __init__(self, host: str = "127.0.0.1", latency: float = 0.0) -> None:
        super().__init__(host)
        self.routes: dict[str, Route] = {}
        self.requests: Counter[str] = Counter()
        self.conditional_hits: Counter[str] = Counter()
        self.latency = latency
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"{self.root_url}{path}"

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def add_tree(self, root: Path, prefix: str = "/") -> None:
        """Serve every file below ``root`` at ``prefix`` + its relative path."""
        for file in sorted(root.rglob("*")):
            if file.is_file():
                kind = "text/html; charset=utf-8" if file.suffix == ".html" else "application/xml"
                self.add(
                    prefix + file.relative_to(root).as_posix(),
                    Route(file.read_bytes(), content_type=kind),
                )

    def __enter__(self) -> FeedServer:
        super().__enter__()
        return self

    def answer(self, request: Received) -> Reply:
        path = request.path
        with self._lock:
            self.requests[path] += 1
            count = self.requests[path]
        if self.latency:
            time.sleep(self.latency)
        route = self.routes.get(path)
        if route is None:
            return _reply(404, b"not found", "text/plain", {})
        if route.delay:
            time.sleep(route.delay)
        if route.redirect_to is not None:
            return _reply(302, b"", "text/plain", {"Location": route.redirect_to})
        if route.status != 200 and count <= (route.fail_times or 10**9):
            return _reply(route.status, b"error", "text/plain", route.headers)
        etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
        last_modified = formatdate(1_700_000_000, usegmt=True)
        if route.conditional and (
            request.headers.get("if-none-match") == etag
            or request.headers.get("if-modified-since") == last_modified
        ):
            with self._lock:
                self.conditional_hits[path] += 1
            return _reply(304, b"", None, {"ETag": etag})
        headers = dict(route.headers)
        if route.conditional:
            headers.update({"ETag": etag, "Last-Modified": last_modified})
        body = route.body
        if route.gzip_body:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        reply = _reply(200, body, route.content_type, headers)
        if route.trickle_interval:
            return replace(reply, trickle_seconds=route.trickle_interval)
        return reply


def _reply(status: int, body: bytes, content_type: str | None, headers: dict[str, str]) -> Reply:
    kind = {"Content-Type": content_type} if content_type else {}
    return Reply(status, body, {**kind, **headers})
