"""A lean ASGI front for the hot OAuth paths.

The token and introspection endpoints and the API-key check behind
``GET /api/account-memberships`` are the hot paths of a payments platform (every
merchant backend and terminal calls them). They parse their own input, so they
gain nothing from the framework's router, dependency injection or middleware
stack, which cost more than the endpoint itself (bench/README.md). This front
dispatches them directly and hands every other request to the FastAPI
application. Behaviour is identical either way: the same functions run, an
exception becomes the response the app's own exception handlers make of it, and
CORS comes from the app's own policy (preflights are never direct: the app answers them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keyturn.web import cors
from keyturn.web.responses import json_response

log = logging.getLogger("keyturn.fastpath")
Endpoint = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class FastPath:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint],
                 extra_headers: list[tuple[bytes, bytes]],
                 handlers: Mapping[Any, ErrorHandler] | None = None,
                 cors_policy: cors.CorsPolicy | None = None) -> None:
        self.app = app
        self.routes = dict(routes)
        self.extra_headers = extra_headers
        self.handlers = dict(handlers or {})
        self.cors = cors_policy

    async def on_error(self, request: Request, exc: Exception) -> Response:
        for cls in type(exc).__mro__:  # the most specific handler, as Starlette picks it
            handler: ErrorHandler | None = self.handlers.get(cls)
            if handler is not None:
                response: Response = await handler(request, exc)
                return response
        # never a stack trace to a client
        log.exception("unexpected error on %s", request.scope["path"])
        return json_response({"error": "server_error"}, 500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self.app  # endpoints read request.app.state.ctx
                request = Request(scope, receive)
                try:
                    response = await endpoint(request)
                except Exception as exc:
                    response = await self.on_error(request, exc)
                # the app's CorsMiddleware does this for its routes: the same policy, the same headers
                if self.cors is not None and cors.path_kind(scope["path"]) == cors.FULL:
                    await self.cors.decorate(scope, response.raw_headers)
                response.raw_headers.extend(self.extra_headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
