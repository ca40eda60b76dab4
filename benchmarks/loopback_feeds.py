"""Feeds served on loopback hosts with real latency, from a separate process: what the
ingest and query benchmarks measure the original fetch-per-request approach against.

Feeds cycle through the bundled sample feed bodies and are dealt round-robin over 30
loopback addresses (127.0.0.2 … 127.0.0.31), each answering after ``latency`` seconds. The
server runs in its own process so serving takes no CPU or GIL from the code being measured.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

from prosora_pipelines.lib.sources.catalog import SourceKind

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FEEDS = REPO_ROOT / "prosora_pipelines" / "catalogs" / "sample" / "feeds"
HOSTS = tuple(f"127.0.0.{n}" for n in range(2, 32))
READY_TIMEOUT_SECONDS = 30.0
LAST_MODIFIED = "Mon, 30 Nov 2026 08:00:00 GMT"


@dataclass(frozen=True)
class PlannedFeed:
    """One served feed: where it is served and which sample body it serves."""

    index: int
    host: str
    path: str
    file: Path
    kind: SourceKind

    @property
    def content_type(self) -> str:
        subtype = "atom+xml" if self.kind is SourceKind.ATOM else "rss+xml"
        return f"application/{subtype}; charset=utf-8"

    def url(self, ports: dict[str, int]) -> str:
        return f"http://{self.host}:{ports[self.host]}{self.path}"


def _kind_of(body: bytes) -> SourceKind:
    return SourceKind.ATOM if re.search(rb"<feed[\s>]", body[:2048]) else SourceKind.RSS


def plan_feeds(count: int, files: Sequence[Path] | None = None) -> list[PlannedFeed]:
    """``count`` feeds cycling through ``files`` (default: every sample feed body), dealt
    round-robin over the hosts."""
    files = list(files or sorted(SAMPLE_FEEDS.glob("*.xml")))
    kinds = {file: _kind_of(file.read_bytes()) for file in files}
    return [
        PlannedFeed(
            index=index,
            host=HOSTS[index % len(HOSTS)],
            path=f"/feeds/{index:03d}/{files[index % len(files)].name}",
            file=files[index % len(files)],
            kind=kinds[files[index % len(files)]],
        )
        for index in range(count)
    ]


def _static_handler(
    routes: dict[str, tuple[bytes, str]], latency: float
) -> type[BaseHTTPRequestHandler]:
    """A handler answering each planned path with its body after ``latency`` seconds, with
    an ETag and a Last-Modified date as a feed server sends them, and 304 Not Modified to a
    request whose validator matches (what a second ingest pass measures)."""
    tags = {
        path: f'"{hashlib.sha256(body).hexdigest()[:16]}"' for path, (body, _) in routes.items()
    }

    class StaticFeeds(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            time.sleep(latency)
            if self.path not in routes:
                self._answer(404, b"not found", "text/plain")
                return
            body, content_type = routes[self.path]
            matches = self.headers.get("If-None-Match") == tags[self.path]
            self._answer(304 if matches else 200, b"" if matches else body, content_type)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            if self.path in tags:
                self.send_header("ETag", tags[self.path])
                self.send_header("Last-Modified", LAST_MODIFIED)
            if status != 304:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: a benchmark prints its figures, not an access log."""

    return StaticFeeds


def _serve(plan: list[PlannedFeed], latency: float, lifetime: float, ports: Connection) -> None:
    """Child process: one threaded server per host; sends {host: port}, serves until
    terminated."""
    bodies = {feed.file: feed.file.read_bytes() for feed in plan}
    routes: dict[str, dict[str, tuple[bytes, str]]] = {host: {} for host in HOSTS}
    for feed in plan:
        routes[feed.host][feed.path] = (bodies[feed.file], feed.content_type)
    servers = {
        host: ThreadingHTTPServer((host, 0), _static_handler(routes[host], latency))
        for host in HOSTS
    }
    for server in servers.values():
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.send({host: server.server_address[1] for host, server in servers.items()})
    time.sleep(lifetime)


def _wait_until_serving(urls: Sequence[str], server: multiprocessing.process.BaseProcess) -> None:
    """Poll each URL until it answers 200, or fail after a bounded wait."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError as exc:
                if not server.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"feed server never answered {url}: {exc}") from exc
                time.sleep(0.05)


@contextmanager
def served_feeds(
    plan: list[PlannedFeed], latency: float, lifetime: float
) -> Iterator[dict[str, int]]:
    """Serve ``plan`` for at most ``lifetime`` seconds (so the server ends even if the
    benchmark is killed); yields {host: port} once every host answers."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(
        target=_serve, args=(plan, latency, lifetime, sender), name="bench-feeds", daemon=True
    )
    server.start()
    sender.close()  # so that a server dying before it sends its ports ends the wait at once
    try:
        if not receiver.poll(READY_TIMEOUT_SECONDS):
            raise RuntimeError(f"feed server process sent no ports in {READY_TIMEOUT_SECONDS} s")
        try:
            ports: dict[str, int] = receiver.recv()
        except EOFError:
            raise RuntimeError("feed server process exited before serving (see above)") from None
        one_per_host = {feed.host: feed for feed in plan}
        _wait_until_serving([feed.url(ports) for feed in one_per_host.values()], server)
        yield ports
    finally:
        server.terminate()
        server.join(5)
        if server.is_alive():
            server.kill()
            server.join(5)
