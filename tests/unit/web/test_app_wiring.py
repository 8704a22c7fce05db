"""web/app.py, web/state.py, web/routes.py: an app is served only as create_app built it, over one route table."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from keyturn.settings import Settings
from keyturn.web import routes
from keyturn.web.app import SecurityHeaders, baseline_headers, front
from keyturn.web.routing import Audience, Route
from keyturn.web.state import services


def test_hsts_only_with_an_https_issuer():
    """RFC 6797 §7.2: Strict-Transport-Security is sent over secure transport only."""
    https = dict(baseline_headers(Settings(issuer="https://auth.example")))
    assert https[b"strict-transport-security"] == b"max-age=31536000; includeSubDomains"
    assert https[b"x-content-type-options"] == b"nosniff" and https[b"referrer-policy"] == b"no-referrer"
    assert b"strict-transport-security" not in dict(baseline_headers(Settings(environment="development")))


async def test_security_headers_leave_non_http_scopes_alone():
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": "lifespan.startup.complete"})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    await SecurityHeaders(app, [(b"x-content-type-options", b"nosniff")])({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"] and sent == [{"type": "lifespan.startup.complete"}]


def test_an_app_not_built_by_create_app_is_refused():
    app = FastAPI()
    app.state.cors = object()  # the untyped bag holds something else than the app's CORS policy
    with pytest.raises(TypeError, match="create_app"):
        front(app, Settings(environment="development"))
    app.state.ctx = object()
    request = Request({"type": "http", "app": app, "method": "GET", "path": "/", "headers": [], "query_string": b""})
    with pytest.raises(TypeError, match="create_app"):
        services(request)


async def _endpoint(request: Request) -> Response:
    return Response()


def test_a_router_route_outside_the_table_is_refused(monkeypatch: pytest.MonkeyPatch):
    """Every route records its audience (the error shape and CORS follow it): a plain APIRoute would not."""
    router = APIRouter()
    router.routes.append(APIRoute("/api/plain", _endpoint))
    monkeypatch.setattr(routes, "ROUTERS", (router,))
    monkeypatch.setattr(routes, "ROUTES", ())
    with pytest.raises(TypeError, match="AudienceRoutes"):
        list(routes.table())


def test_a_hot_route_no_router_declares_is_refused(monkeypatch: pytest.MonkeyPatch):
    """The front would serve a route the app (and so the OpenAPI document) does not have."""
    ghost = Route(("GET",), "/api/ghost", _endpoint, Audience.MANAGEMENT, hot=True, in_router=True)
    monkeypatch.setattr(routes, "ROUTES", (ghost,))
    monkeypatch.setattr(routes, "ROUTERS", ())
    with pytest.raises(LookupError, match="/api/ghost"):
        list(routes.table())


def test_the_real_table_names_every_route_once():
    seen: list[Any] = [(m, r.path) for r in routes.table() for m in r.methods]
    assert len(seen) == len(set(seen))
    assert {r.path for r in routes.hot()} >= {"/token", "/introspect"}


def test_every_app_serves_the_routers_routes_as_built_once(fastapi_app_and_ctx: tuple[FastAPI, Any]):
    """The routers' routes are the app's own objects, built once per process: FastAPI's include_router would
    wrap them and rebuild every route's models on each app's first request (~70 ms per worker, per test app)."""
    served = {id(r) for r in fastapi_app_and_ctx[0].router.routes}
    for router in routes.ROUTERS:
        assert router.routes and all(id(r) in served for r in router.routes), router.prefix
    assert all(isinstance(r, APIRoute) or type(r).__module__.startswith(("starlette", "keyturn"))
               for r in fastapi_app_and_ctx[0].router.routes)
