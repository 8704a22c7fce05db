"""uvicorn's httptools protocol, with each response handed to the kernel in one write.

uvicorn writes a response's status line and headers, then its body, with two
``transport.write`` calls. uvloop sends each at once, so every small response
costs two ``send`` system calls and two TCP segments (and the client two reads).
For the token endpoint that second write was ≈ 15% of the server's CPU time per
request (bench/README.md). Here the connection's transport gathers what is
written during one turn of the event loop and sends it with a single write at
the end of that turn: the same bytes in the same order, no later than the next
loop iteration, and at once if 64 KiB are pending or the connection closes.

Only this one method of the transport changes; everything else (flow control,
``close``, ``get_extra_info``) reaches uvloop's transport unchanged. WebSocket
upgrades are not served (``ws="none"``), so no other protocol ever sees this
transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Scope
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from keyturn.metrics import LOAD_SHED
from keyturn.web.server.accesslog import AccessLog
from keyturn.web.server.shedding import SHED, VERDICT_KEY, Shedding, find_layer, find_shedding

MAX_PENDING = 64 * 1024


class CoalescingTransport:
    """A transport whose writes within one event-loop turn leave as one write."""

    __slots__ = ("_transport", "_loop", "_pending", "_size")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._size = len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)
            self._size += len(data)
        if self._size >= MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """What `keyturn serve` passes to uvicorn as its HTTP protocol: one write per response, and each
    request counted for load shedding when it arrives (keyturn.web.server.shedding)."""

    shedding: Shedding | None = None
    access_lines: AccessLog | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self.shedding = find_shedding(self.app)
        self.access_lines = find_layer(self.app, AccessLog) if self.shedding is not None else None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # uvicorn starts the request's task here (at once, or when a pipelined request's turn comes)
        shedding = self.shedding
        if shedding is not None:
            scope: Scope = cycle.scope  # type: ignore[assignment]  # the dict the app gets
            shedding.arrive(scope)
            if (scope.get(VERDICT_KEY) == SHED and cycle.keep_alive and not cycle.waiting_for_100_continue
                    and shedding.answers_on_the_wire(scope["path"])):
                self._shed(cycle, shedding.response_bytes(scope))
                return
        super()._start_asgi_task(cycle, app)

    def _shed(self, cycle: RequestResponseCycle, response: bytes) -> None:
        """Answer a request beyond the in-flight limit here, with no task: under overload a shed request
        must cost as little as possible. Its body (if any is still coming) is discarded by uvicorn, as for
        any request whose answer is complete; then the connection serves its next request."""
        LOAD_SHED.inc()
        cycle.response_started = cycle.response_complete = True
        self.transport.write(response)
        if self.access_lines is not None:
            self.access_lines.buffer.write(self.access_lines.line(cycle.scope, 503, 0.0))  # type: ignore[arg-type]
        self.on_response_complete()
