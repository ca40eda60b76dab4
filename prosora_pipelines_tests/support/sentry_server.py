"""A loopback stand-in for Sentry's ingestion: accepts envelopes on ``/api/<project>/envelope/``
as sentry.io does and keeps each one, parsed, with its raw bytes for leak checks."""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from typing import Any

from prosora_pipelines_tests.support.loopback_http import LoopbackHTTPServer, Received, Reply

PROJECT_ID = 42
PUBLIC_KEY = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Envelope:
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]]
    raw: bytes
    """The envelope as sent (decompressed), to search for anything that must not leave."""

    def events(self) -> list[dict[str, Any]]:
        return [
            json.loads(payload) for header, payload in self.items if header.get("type") == "event"
        ]


def parse_envelope(raw: bytes) -> Envelope:
    """Sentry's envelope format: a header line, then per item a header line and a payload of
    the header's ``length`` in bytes (or up to the next newline when it has none)."""
    header_line, _, rest = raw.partition(b"\n")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        if "length" in item_header:
            payload, rest = rest[: item_header["length"]], rest[item_header["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item_header, payload))
    return Envelope(json.loads(header_line), items, raw)


class SentryServer(LoopbackHTTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@{self.host}:{self.port}/{PROJECT_ID}"

    def answer(self, request: Received) -> Reply:
        if request.method != "POST" or request.path.split("?")[0] != f"/api/{PROJECT_ID}/envelope/":
            return Reply(404)
        if f"sentry_key={PUBLIC_KEY}" not in request.headers.get("x-sentry-auth", ""):
            return Reply(401)
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        with self._lock:
            self.envelopes.append(parse_envelope(body))
        return Reply(200, b"{}", {"Content-Type": "application/json"})

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for envelope in self.envelopes for event in envelope.events()]
