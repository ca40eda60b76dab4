"""The app's one way to the API: JSON requests with the bearer token, the query stream as
events, and every failure turned into an ``ApiRequestError`` a person can read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from prosora_pipelines.app.problems import (
    ApiRequestError,
    problem_from_response,
    stream_error,
    unreachable,
)

API_PREFIX = "/api/v1"
# Reads answer in milliseconds; a query is the slowest thing asked, and the stream's own
# heartbeats (every 15 s) keep its connection from looking idle.
READ_TIMEOUT_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 3.0


def server_sent_events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """``(event, data)`` pairs from the lines of a ``text/event-stream`` body (data is JSON
    when it parses, else text); comment lines such as heartbeats are skipped."""
    name = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    payload: Any = json.loads(text)
                except ValueError:
                    payload = text
                yield name, payload
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield name, "\n".join(data)


class ApiClient:
    """Requests to the API at ``base_url`` with ``token`` (an ``httpx`` transport may be
    given, as tests of the error paths do)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, API_PREFIX + path, **kwargs)
        except httpx.TimeoutException:
            raise unreachable(self.base_url, "no answer in time") from None
        except httpx.TransportError as error:
            raise unreachable(self.base_url, type(error).__name__) from None
        if response.status_code >= 400:
            raise problem_from_response(response.status_code, dict(response.headers), response.text)
        return response

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON a GET answers (parameters that are None are left out)."""
        kept = {name: value for name, value in (params or {}).items() if value is not None}
        return self._send("GET", path, params=kept).json()

    def get_optional(self, path: str, params: dict[str, Any] | None = None) -> Any | None:
        """Like ``get``, but None when the API has no such route or item (404)."""
        try:
            return self.get(path, params)
        except ApiRequestError as problem:
            if problem.status == 404:
                return None
            raise

    def post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, json=body).json()

    def put(self, path: str, body: Any) -> Any:
        return self._send("PUT", path, json=body).json()

    def upload(self, path: str, filename: str, content: bytes) -> Any:
        return self._send("POST", path, files={"file": (filename, content, "text/csv")}).json()

    def stream_query(self, text: str, options: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """The events of ``POST /queries/stream`` as they arrive: ``analysis``, ``evidence``,
        one ``variant`` per draft, then ``done`` with the whole result. An ``error`` event,
        or a refusal before the stream starts, raises ``ApiRequestError``."""
        body = {"text": text, "options": options}
        try:
            with self._http.stream("POST", f"{API_PREFIX}/queries/stream", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise problem_from_response(
                        response.status_code, dict(response.headers), response.text
                    )
                for name, payload in server_sent_events(response.iter_lines()):
                    if name == "error":
                        raise stream_error(payload)
                    yield name, payload
        except httpx.TimeoutException:
            raise unreachable(self.base_url, "no answer in time") from None
        except httpx.TransportError as error:
            raise unreachable(self.base_url, type(error).__name__) from None
