"""A lean ASGI front for the hot OAuth paths.

The token and introspection endpoints and the API-key check behind
``GET /api/account-memberships`` are the hot paths of a payments platform (every
merchant backend and terminal calls them). They parse their own input, so they
gain nothing from the framework's router, dependency injection or middleware
stack, which cost more than the endpoint itself (bench/README.md). This front
dispatches the route table's ``hot`` routes (keyturn.web.routes) directly and hands
every other request to the FastAPI application. Behaviour is identical either way:
the same functions run, the route records itself in the scope as the app's routes do,
an exception becomes a response through the same error pipeline, and CORS comes from
the app's own policy (preflights are never direct: the app answers them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keyturn.web.cors import CorsPolicy
from keyturn.web.errors import error_response
from keyturn.web.routing import ROUTE_KEY, Cors, Route


class FastPath:
    def __init__(self, app: ASGIApp, routes: Iterable[Route], extra_headers: list[tuple[bytes, bytes]],
                 cors_policy: CorsPolicy) -> None:
        self.app = app
        self.table = {(method, route.path): route for route in routes for method in route.methods}
        self.routes: dict[tuple[str, str], Callable[..., Awaitable[Response]]] = {
            key: route.endpoint for key, route in self.table.items()}  # what runs, by method and path
        self.extra_headers = extra_headers
        self.cors = cors_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            key = (scope["method"], scope["path"])
            endpoint = self.routes.get(key)
            if endpoint is not None:
                route = self.table.get(key)
                scope["app"] = self.app  # endpoints read request.app.state.ctx
                scope[ROUTE_KEY] = route
                request = Request(scope, receive)
                try:
                    response = await endpoint(request)
                except Exception as exc:
                    response = await error_response(request, exc)
                # the app's CorsMiddleware does this for its routes: the same policy, the same headers
                if route is not None and route.cors_kind is Cors.FULL:
                    await self.cors.decorate(scope, response.raw_headers)
                response.raw_headers.extend(self.extra_headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
