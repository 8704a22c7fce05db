"""The one way an outer layer of the front sees how each HTTP request was answered.

The access log and the request metrics both need the status and the time from arrival to answer;
:class:`Answered` wraps ``send`` once to read the status and calls :meth:`Answered.record` when the
request is done, also when the app failed before answering (the server then answers 500).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Recorder = Callable[[Scope, int, float], None]


class Answered:
    """ASGI layer base: :meth:`record` is called once per HTTP request with its status and duration, then
    ``also`` (another layer's ``record``, so that the access log and the metrics share one layer: one
    wrapped ``send`` and one frame per request instead of two)."""

    def __init__(self, app: ASGIApp, also: Recorder | None = None) -> None:
        self.app = app
        self.also = also

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # No response started: the app failed and the server answers 500.
            seconds = time.perf_counter() - started
            self.record(scope, status or 500, seconds)
            if self.also is not None:
                self.also(scope, status or 500, seconds)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        raise NotImplementedError
