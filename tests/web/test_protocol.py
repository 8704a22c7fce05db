"""`keyturn serve`'s HTTP protocol: one write per response, and HTTP/1.1 on the wire unchanged."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from keyturn.web.server.protocol import MAX_PENDING, CoalescingTransport
from tests.server import LiveServer, start_server


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1) if name == "peername" else None


async def test_writes_in_one_loop_turn_leave_as_one_write_in_order():
    raw = FakeTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.write(b"body")
    assert raw.writes == []
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    t.write(b"next")
    await asyncio.sleep(0)
    assert raw.writes[-1] == b"next" and len(raw.writes) == 2
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else reaches the transport


async def test_close_sends_what_is_pending_first_and_abort_drops_it():
    raw = FakeTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"bye")
    t.close()
    assert raw.writes == [b"bye"] and raw.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing to send on a closed transport
    assert raw.writes == [b"bye"]
    raw2 = FakeTransport()
    t2 = CoalescingTransport(raw2, asyncio.get_running_loop())  # type: ignore[arg-type]
    t2.write(b"never")
    t2.abort()
    await asyncio.sleep(0)
    assert raw2.writes == [] and raw2.aborted


async def test_a_large_write_is_sent_at_once():
    raw = FakeTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"h")
    t.write(b"x" * MAX_PENDING)
    assert raw.writes == [b"h" + b"x" * MAX_PENDING]
    await asyncio.sleep(0)
    assert len(raw.writes) == 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("wire")
    s = start_server(f"sqlite+aiosqlite:///{tmp}/wire.db", tmp)
    try:
        yield s
    finally:
        s.stop()


def connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_responses(sock: socket.socket, count: int) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Read `count` complete responses (Content-Length framed) from the socket."""
    data, out = b"", cast(list[tuple[bytes, dict[bytes, bytes], bytes]], [])
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} responses: {data!r}"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
        if status.startswith(b"HTTP/1.1 100"):
            out.append((status, headers, b""))
            continue
        length = int(headers[b"content-length"])
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
        out.append((status, headers, data[:length]))
        data = data[length:]
    return out


def test_pipelined_requests_get_their_responses_in_order(server: LiveServer):
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 10\r\n\r\ngrant_type"
                     b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
        got = read_responses(sock, 3)
    assert [s for s, _, _ in got] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 404 Not Found"]
    assert got[0][2] == b'{"status":"ok"}'
    assert b"invalid_request" in got[1][2] and got[1][1][b"cache-control"] == b"no-store"


def test_connection_close_sends_the_whole_response_then_closes(server: LiveServer):
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        (status, headers, body), = read_responses(sock, 1)
        assert status == b"HTTP/1.1 200 OK" and body == b'{"status":"ok"}'
        assert sock.recv(100) == b""


def test_expect_100_continue_then_the_answer(server: LiveServer):
    with connect(server) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 29\r\nExpect: 100-continue\r\n\r\n")
        (status, _, _), = read_responses(sock, 1)
        assert status == b"HTTP/1.1 100 Continue"
        sock.sendall(b"grant_type=client_credentials")
        (status, headers, body), = read_responses(sock, 1)
        assert status == b"HTTP/1.1 401 Unauthorized" and b"invalid_client" in body


def test_a_large_response_arrives_whole(server: LiveServer):
    with connect(server) as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: a\r\n\r\n")
        (status, headers, body), = read_responses(sock, 1)
    assert status == b"HTTP/1.1 200 OK" and body.startswith(b"{") and body.endswith(b"}")


def test_a_websocket_upgrade_is_not_served(server: LiveServer):
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        (status, _, body), = read_responses(sock, 1)
    assert status == b"HTTP/1.1 200 OK" and body == b'{"status":"ok"}'  # an ordinary request, never a 101
