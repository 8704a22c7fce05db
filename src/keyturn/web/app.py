"""The HTTP application: ``create_app(services)`` builds the route table (keyturn.web.routes) over one
``Services`` (the composition root is :func:`keyturn.services.context.build_services`); ``create_asgi``
adds what `keyturn serve` runs around it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn import __version__
from keyturn.services.context import Services
from keyturn.settings import Settings
from keyturn.web import cors, errors, routes
from keyturn.web.protocol import authorize
from keyturn.web.routing import TableRoute
from keyturn.web.server.accesslog import AccessLog
from keyturn.web.server.fastpath import FastPath
from keyturn.web.server.metrics import RequestMetrics
from keyturn.web.server.requestid import RequestId
from keyturn.web.server.shedding import Shedding


def baseline_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS with an https issuer)."""
    extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
    if settings.issuer.startswith("https://"):
        extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return extra


class SecurityHeaders:
    """Baseline headers on every response (ASGI, so the hot path pays almost nothing)."""

    def __init__(self, app: ASGIApp, extra: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.extra = extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(context: Services, *, run_migrations: bool = False) -> FastAPI:
    """The FastAPI application over ``context`` (built by :func:`keyturn.services.context.build_services`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await context.start(run_migrations=run_migrations)
        yield
        await context.close()

    app = FastAPI(title="Keyturn", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
                  openapi_url="/openapi.json",
                  description="Management API of Keyturn. OAuth endpoints are described by discovery. "
                              f"A user selects the account a call acts on with the "
                              f"`{context.settings.account_header}` header (KEYTURN_ACCOUNT_HEADER); the "
                              "decision endpoints read it as the account to decide on.")
    app.state.ctx = context
    errors.install(app)
    for route in routes.ROUTES:  # the route table, then its routers (the OpenAPI document is theirs)
        if not route.in_router:
            app.router.routes.append(TableRoute(route))
    for router in routes.ROUTERS:  # the routers' own routes, built once per process (prefix, tags and route class
        # are the router's): FastAPI's include_router would rebuild every route's models lazily for each app, on
        # its first request (~70 ms: each worker's first answer, each test's app). The OpenAPI document is the same.
        app.router.routes.extend(router.routes)
    # Every preflight, and CORS on the API's answers; inside SecurityHeaders so preflights get them too.
    app.state.cors = cors.CorsPolicy(context, app.router.routes)
    app.add_middleware(cors.CorsMiddleware, policy=app.state.cors)
    app.add_middleware(SecurityHeaders, extra=baseline_headers(context.settings))
    return app


def create_asgi(context: Services, *, run_migrations: bool = False) -> ASGIApp:
    """What `keyturn serve` runs: the app behind a lean front for the hot OAuth endpoints."""
    return front(create_app(context, run_migrations=run_migrations), context.settings)


def front(app: FastAPI, settings: Settings) -> ASGIApp:
    """The layers `keyturn serve` puts around the app (the in-process tests' `client` goes through them too).

    The front runs the route table's hot routes with the app's error pipeline, security headers and
    CORS policy; it only skips the framework layers around them.
    The layers, outermost first: the request id (keyturn.web.server.requestid), the access log which
    also records the request metrics (keyturn.web.server.metrics; without the access log the metrics
    are their own layer; neither when ``metrics`` is off), load shedding (keyturn.web.server.shedding;
    absent when ``max_in_flight`` is 0), then the lean front.
    """
    policy = app.state.cors
    if not isinstance(policy, cors.CorsPolicy):
        raise TypeError("the application was not built by create_app")
    extra = baseline_headers(settings)
    inner: ASGIApp = FastPath(app, routes.hot(), extra, policy)
    if settings.max_in_flight:
        busy = {r.path: authorize.busy_endpoint for r in routes.table() if r.endpoint is authorize.authorize_endpoint}
        inner = Shedding(inner, settings.max_in_flight, routes.table(), extra, busy=busy, endpoint_app=app)
    counting = RequestMetrics(inner) if settings.metrics else None  # KEYTURN_METRICS (web/server/metrics.py)
    if settings.access_log:  # one layer observes the answer for both the access log and the metrics
        inner = AccessLog(inner, json_lines=settings.log_format == "json",
                          also=counting.record if counting is not None else None,
                          trusted_proxies=settings.trusted_proxies)
    elif counting is not None:
        inner = counting
    return RequestId(inner)
