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
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


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


class FeedServer:
    """Serves ``routes`` (path → Route) on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", latency: float = 0.0) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: Counter[str] = Counter()
        self.conditional_hits: Counter[str] = Counter()
        self.latency = latency
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

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
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        with self._lock:
            self.requests[path] += 1
            count = self.requests[path]
        if self.latency:
            time.sleep(self.latency)
        route = self.routes.get(path)
        if route is None:
            self._send(request, 404, b"not found", "text/plain", {})
            return
        if route.delay:
            time.sleep(route.delay)
        if route.redirect_to is not None:
            self._send(request, 302, b"", "text/plain", {"Location": route.redirect_to})
            return
        if route.status != 200 and count <= (route.fail_times or 10**9):
            self._send(request, route.status, b"error", "text/plain", route.headers)
            return
        etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
        last_modified = formatdate(1_700_000_000, usegmt=True)
        if route.conditional and (
            request.headers.get("If-None-Match") == etag
            or request.headers.get("If-Modified-Since") == last_modified
        ):
            with self._lock:
                self.conditional_hits[path] += 1
            self._send(request, 304, b"", None, {"ETag": etag})
            return
        headers = dict(route.headers)
        if route.conditional:
            headers.update({"ETag": etag, "Last-Modified": last_modified})
        body = route.body
        if route.gzip_body:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(request, 200, body, route.content_type, headers, route.trickle_interval)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str],
        trickle_interval: float = 0.0,
    ) -> None:
        try:
            request.send_response(status)
            if content_type:
                request.send_header("Content-Type", content_type)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            if trickle_interval:
                for index in range(len(body)):
                    request.wfile.write(body[index : index + 1])
                    request.wfile.flush()
                    time.sleep(trickle_interval)
            elif body:
                request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return
