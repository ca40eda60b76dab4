"""The base of the test suite's fake remote services: a real HTTP/1.1 server on a loopback
address at a free port, answering in background threads, that a subclass teaches what to
answer by turning each :class:`Received` request into a :class:`Reply`.

Replies go out on the socket as written, so a server can misbehave the way real ones do:
answer late, or trickle its answer a byte at a time, status line and headers included. A
WSGI server (such as pytest-httpserver's) writes the status line and headers itself, which
rules that last one out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    """As the request line gave it: absolute (``http://host/...``) when sent to a proxy."""
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    """Sent in this order, then ``Content-Length``."""
    trickle_seconds: float | None = None
    """Seconds between bytes of the answer, sent one at a time instead of at once."""
    trickle_headers: bool = False
    """Trickle the status line and headers too, not only the body."""


class LoopbackHTTPServer:
    """Serves on ``host`` at a free port from ``__enter__`` to ``__exit__``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle's algorithm
            # and delayed ACKs add 40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                return

            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        # A short poll interval makes shutdown, and so each test, fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def answer(self, request: Received) -> Reply:
        """The reply to ``request``; called in the request's own thread."""
        raise NotImplementedError

    def __enter__(self) -> LoopbackHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        received = Received(
            handler.command,
            handler.path,
            {name.lower(): value for name, value in handler.headers.items()},
            handler.rfile.read(int(handler.headers.get("Content-Length", 0))),
        )
        reply = self.answer(received)
        head = f"HTTP/1.1 {reply.status} {_reason(reply.status)}\r\n" + "".join(
            f"{name}: {value}\r\n"
            for name, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items()
        )
        raw = head.encode("latin-1") + b"\r\n" + reply.body
        try:
            if reply.trickle_seconds is None:
                handler.wfile.write(raw)
                return
            if not reply.trickle_headers:
                handler.wfile.write(raw[: len(head) + 2])
                raw = reply.body
            for byte in raw:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(reply.trickle_seconds)
        except (BrokenPipeError, ConnectionResetError):
            return


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Answer"
