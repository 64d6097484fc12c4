"""The fault proxy used by chaos tests and the demo really cuts and heals connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sfsync.proxy import TcpProxy


@pytest.fixture
def echo_server() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield port
    srv.close()


def roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload)
        return s.recv(1024)


@pytest.mark.timeout(30)
def test_cut_blackhole_heal(echo_server: int) -> None:
    with TcpProxy("127.0.0.1", echo_server) as proxy:
        assert roundtrip(proxy.listen_port, b"one") == b"one"
        held = socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=2)
        held.sendall(b"x")
        assert held.recv(10) == b"x"
        proxy.cut()
        assert held.recv(10) == b""  # the open connection was closed
        try:  # new connections are closed at once: no echo either way
            got = roundtrip(proxy.listen_port, b"two")
        except OSError:
            got = b""
        assert got == b""
        proxy.blackhole()
        with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=0.5) as s:
            s.sendall(b"lost")
            with pytest.raises(TimeoutError):
                s.recv(10)
        proxy.heal()
        assert roundtrip(proxy.listen_port, b"three") == b"three"
