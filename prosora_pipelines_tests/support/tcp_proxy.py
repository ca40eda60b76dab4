"""A loopback TCP proxy that tests stop, restart and freeze, to put a real server (the
PostgreSQL on 127.0.0.1:5432) behind an outage: stopped, it listens nowhere and has closed
every connection through it; frozen, it accepts connections and bytes but passes nothing on
in either direction, as a server that hangs (or a network that drops packets) does."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class TcpProxy:
    """Pipes every connection to <listen_host>:<port> on to ``target``, until stopped; a
    stopped proxy can start again on the same port, a frozen one thaws."""

    def __init__(self, target: tuple[str, int], listen_host: str = "127.0.0.1") -> None:
        self.target = target
        self.listen_host = listen_host
        self.port = 0
        self.accepted = 0
        """Connections piped on so far."""
        self._stopping = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, self.port))
        listener.listen()
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept, listener)

    def stop(self) -> None:
        self._stopping.set()
        self._flowing.set()  # wakes pipes held by a freeze, so they see the stop
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)
            assert not thread.is_alive(), "a proxy thread did not stop"

    def freeze(self) -> None:
        """From now on, hold every byte in either direction (connections still open)."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Pass on what was held, and everything after it."""
        self._flowing.set()

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
                    self.accepted += 1
                self._spawn(self._pipe, client, upstream)
                self._spawn(self._pipe, upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                if self._stopping.is_set():
                    break
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
