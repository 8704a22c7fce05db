"""A lean ASGI front for the hot OAuth paths.

The token and introspection endpoints are the hot paths of a payments platform
(every merchant backend calls them). They parse their own bodies and render their
own RFC 6749 errors, so they gain nothing from the framework's router, dependency
injection or exception middleware. This front dispatches them directly and hands
every other request to the FastAPI application. Behaviour is identical either way:
the same endpoint functions run; only the framework layers around them are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keyturn.web.responses import json_response

log = logging.getLogger("keyturn.fastpath")
Endpoint = Callable[[Request], Awaitable[Response]]


class FastPath:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint],
                 extra_headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.routes = dict(routes)
        self.extra_headers = extra_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self.app  # endpoints read request.app.state.ctx
                try:
                    response = await endpoint(Request(scope, receive))
                except Exception:  # never a stack trace to a client
                    log.exception("unexpected error on %s", scope["path"])
                    response = json_response({"error": "server_error"}, 500)
                response.raw_headers.extend(self.extra_headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
