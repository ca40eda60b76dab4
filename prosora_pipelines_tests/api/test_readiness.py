"""Why: orchestrators route traffic by /ready, so it must say 503 with the reason as soon as
the app database goes away, come back by itself when the database does, and answer fast
either way (a readiness probe that hangs is a probe that times out and restarts the pod).
It must also refuse to call an app ready that has no article index, or one too old to
trust. The database outage is real: PostgreSQL behind a loopback TCP proxy this test stops
and restarts on the same port, closing every connection through it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from prosora_pipelines_tests.api.conftest import MakeApi

POSTGRES = ("127.0.0.1", 5432)
# Bounds a connection attempt the proxy does not answer; a refused one fails at once.
CONNECT_TIMEOUT_SECONDS = 2
FAST_SECONDS = 4.0


class TcpProxy:
    """Pipes every connection to 127.0.0.1:<port> on to ``target``, until stopped; a stopped
    proxy listens nowhere and has closed every piped connection, and can start again on the
    same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept, listener)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)
            assert not thread.is_alive(), "a proxy thread did not stop"

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close(client)
                    continue
                client.settimeout(None)
                upstream.settimeout(None)
                with self._lock:
                    self._sockets.update((client, upstream))
                self._spawn(self._pipe, client, upstream)
                self._spawn(self._pipe, upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
    sock.close()


@pytest.fixture
def proxy() -> Any:
    running = TcpProxy(POSTGRES)
    running.start()
    yield running
    running.stop()


def _ready(api: Any) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    response = api.client.get("/ready")
    elapsed = time.perf_counter() - started
    assert response.headers["X-Request-ID"]
    return response.status_code, response.json(), elapsed


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_readiness_follows_the_app_database_down_and_back(
    make_api: MakeApi, database_url: str, proxy: TcpProxy
) -> None:
    through_proxy = (
        make_url(database_url)
        .set(port=proxy.port)
        .update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
        .render_as_string(hide_password=False)
    )
    api = make_api(through_proxy)
    status, report, _ = _ready(api)
    assert (status, report["status"], report["problems"]) == (200, "ready", [])

    proxy.stop()
    status, report, elapsed = _ready(api)
    assert status == 503 and report["status"] == "unavailable"
    assert len(report["problems"]) == 1 and "app database unreachable" in report["problems"][0]
    assert report["index_table"], "the index part is still reported"
    assert elapsed < FAST_SECONDS, f"/ready took {elapsed:.1f} s with the database gone"
    assert "password" not in str(report) and str(proxy.port) not in str(report["problems"])

    proxy.start()
    status, report, elapsed = _ready(api)
    assert (status, report["problems"]) == (200, []), report
    assert elapsed < FAST_SECONDS
    assert api.client.get("/health").status_code == 200


def test_an_index_older_than_allowed_is_not_ready(make_api: MakeApi) -> None:
    api = make_api(api_index_max_age_hours=0.0001)
    status, report, _ = _ready(api)
    assert (status, report["status"]) == (503, "unavailable")
    [problem] = report["problems"]
    assert problem.startswith("article index is ") and "over the 0.0001 h limit" in problem
    assert report["index_age_hours"] >= 0 and report["index_updated_at"]


def test_a_home_without_an_index_is_not_ready(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(home=tmp_path / "empty-home")
    status, report, _ = _ready(api)
    assert status == 503
    assert report["problems"] == ["no article index yet: materialize article_index"]
    assert report["index_table"] is None and report["embedding_model"] is None
    assert api.client.get("/health").status_code == 200, "alive, just not ready"
