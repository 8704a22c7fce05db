"""web/server/fastpath.py: anything but an HTTP request on a hot route reaches the app unchanged."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from keyturn.web.cors import CorsPolicy
from keyturn.web.routing import Audience, Route
from keyturn.web.server.fastpath import FastPath


async def test_lifespan_and_websocket_scopes_reach_the_app():
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def never(request: Request) -> Response:
        raise AssertionError("a hot endpoint must not run for a non-HTTP scope")

    front = FastPath(app, [Route(("GET",), "/token", never, Audience.PROTOCOL, hot=True)], [],
                     cast(CorsPolicy, None))

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    for scope in ({"type": "lifespan"}, {"type": "websocket", "method": "GET", "path": "/token"}):
        await front(scope, receive, send)
    assert [s["type"] for s in seen] == ["lifespan", "websocket"]
