"""A loopback TCP server that misbehaves on purpose: it reads a request, then runs a
`behaviour` on the socket (trickle a body, send a huge one, never answer). Each
behaviour ends on its own within seconds, so that a client without bounds still
finishes (and its test fails) instead of hanging the suite."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

Behaviour = Callable[[socket.socket, "HostileServer"], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.bytes_sent = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            conn.recv(65536)  # the request (small: a JSON body after its headers)
            self.behaviour(conn, self)

    def close(self) -> None:
        self.stop.set()
        self._listener.close()


@contextlib.contextmanager
def hostile(behaviour: Behaviour) -> Iterator[HostileServer]:
    server = HostileServer(behaviour)
    try:
        yield server
    finally:
        server.close()


def trickle(seconds: float, interval: float = 0.05) -> Behaviour:
    """A 200 whose body comes a byte every `interval`, for `seconds` at most."""

    def run(conn: socket.socket, server: HostileServer) -> None:
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        server.send(conn, b"Content-Length: 1000000\r\n\r\n")
        end = time.monotonic() + seconds
        while time.monotonic() < end and not server.stop.wait(interval):
            server.send(conn, b" ")

    return run


def huge(total: int, *, declare: bool, chunk: int = 64 * 1024) -> Behaviour:
    """A 200 of `total` bytes, with its Content-Length declared or chunked without one."""

    def run(conn: socket.socket, server: HostileServer) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += (
            f"Content-Length: {total}\r\n\r\n".encode()
            if declare
            else (b"Transfer-Encoding: chunked\r\n\r\n")
        )
        server.send(conn, head)
        block = b"[" + b"0," * (chunk // 2 - 1) + b"0"
        sent = 0
        while sent < total and not server.stop.is_set():
            data = block[: min(chunk, total - sent)]
            server.send(conn, data if declare else b"%x\r\n%s\r\n" % (len(data), data))
            sent += len(data)
        if not declare:
            server.send(conn, b"0\r\n\r\n")

    return run


def silent(seconds: float) -> Behaviour:
    """Accept the request and answer nothing, for `seconds`; then hang up."""

    def run(conn: socket.socket, server: HostileServer) -> None:
        server.stop.wait(seconds)

    return run
