"""Every HTTP request's id: the caller's ``X-Request-Id`` when it is a valid one, else a new one.

The id is echoed in the ``X-Request-Id`` header of every answer (errors and load-shed answers
included), written in the request's access-log line, and set in keyturn.core.logcontext for as long
as the request runs, so every log line about it carries it. A caller's id longer than 128
characters or with characters outside ``[A-Za-z0-9._:+/=@-]`` is replaced, never echoed.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.core.logcontext import REQUEST_ID, valid_request_id
from keyturn.core.secrets import new_token_id

HEADER = b"x-request-id"
REQUEST_ID_KEY = "keyturn.request_id"


def request_id_of(scope: Scope) -> str | None:
    """The id the front gave this request (None outside the front)."""
    rid = scope.get(REQUEST_ID_KEY)
    return rid if isinstance(rid, str) else None


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-Id`` if it is a valid one, else a new id."""
    for name, value in headers:
        if name == HEADER:
            given = value.decode("latin-1")
            if valid_request_id(given):
                return given
            break
    return new_token_id()


class RequestId:
    """ASGI middleware: the outermost layer of the front (keyturn.web.app.front)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(scope["headers"])
        scope[REQUEST_ID_KEY] = rid
        header = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
