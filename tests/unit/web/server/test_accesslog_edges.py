"""web/server/accesslog.py: only HTTP requests are logged, and a gone standard output never breaks serving."""

from __future__ import annotations

import io

from starlette.types import Message, Receive, Scope, Send

from keyturn.web.server.accesslog import AccessLog, LineBuffer, _chunks


class Gone(io.BytesIO):
    """Standard output whose reader went away."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def write(self, data: object) -> int:
        raise self.exc


async def test_lifespan_events_pass_through_without_a_line():
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    out = io.BytesIO()
    buffer = LineBuffer(out)
    log = AccessLog(app, buffer)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    await log({"type": "lifespan"}, receive, send)
    buffer.flush()
    assert seen == ["lifespan"] and out.getvalue() == b""


def test_a_closed_or_broken_stdout_loses_lines_instead_of_failing():
    for exc in (BrokenPipeError(32, "Broken pipe"), ValueError("I/O operation on closed file")):
        buffer = LineBuffer(Gone(exc))
        buffer.write("one line\n")  # outside an event loop: written (and lost) at once, no exception
        assert buffer._lines == []  # nothing kept to retry forever


def test_an_empty_flush_writes_nothing():
    out = io.BytesIO()
    buffer = LineBuffer(out)
    buffer.flush()
    assert out.getvalue() == b"" and _chunks([]) == []


async def test_the_access_log_layer_also_records_the_metrics_answer():
    """front(): with the access log on, its layer hands each answer to the metrics too (one layer, not two)."""
    recorded: list[tuple[str, int]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    out = io.BytesIO()
    buffer = LineBuffer(out)
    log = AccessLog(app, buffer, also=lambda scope, status, seconds: recorded.append((scope["path"], status)))
    await log({"type": "http", "method": "GET", "path": "/x", "headers": []}, receive, send)
    buffer.flush()
    assert recorded == [("/x", 204)]
    assert b'"GET /x HTTP/1.1" 204' in out.getvalue()
