"""web/server/protocol.py in this process: uvicorn runs `keyturn serve`'s protocol class, whose connections
write through the coalescing transport, and HTTP/1.1 still works over it."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import Receive, Scope, Send

from keyturn.web.server.protocol import CoalescingTransport, HttpProtocol


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


async def test_connections_write_through_the_coalescing_transport():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http=HttpProtocol, ws="none", lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.01)
        assert server.started
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        body = await asyncio.wait_for(reader.readexactly(5), 5)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"hello"
        connections = list(server.server_state.connections)
        assert len(connections) == 1
        assert isinstance(getattr(connections[0], "transport"), CoalescingTransport)
        writer.close()
        await writer.wait_closed()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 5)
        sock.close()
