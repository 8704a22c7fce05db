"""The HTTP application: ``create_app(services)`` wires the endpoints over one ``Services`` (the composition
root is :func:`keyturn.services.context.build_services`); ``create_asgi`` adds what `keyturn serve` runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn import __version__
from keyturn.core.errors import ApiError, InsufficientScope, InvalidToken, OAuthError
from keyturn.services.context import Services
from keyturn.settings import Settings
from keyturn.web import access_api, cors, credential_api, discovery, errors, introspection, oidc, token
from keyturn.web.accesslog import AccessLog
from keyturn.web.fastpath import FastPath
from keyturn.web.responses import json_response

log = logging.getLogger("keyturn")

class SecurityHeaders:
    """Baseline headers on every response (ASGI, so the hot path pays almost nothing)."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
        if hsts:
            self.extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


ERROR_HANDLERS: dict[Any, Any] = {
    ApiError: errors.on_api_error, InvalidToken: errors.on_invalid_token, OAuthError: errors.on_oauth_error,
    InsufficientScope: errors.on_insufficient_scope,
    RequestValidationError: errors.on_validation_error, HTTPException: errors.on_http_exception,
    Exception: errors.on_unexpected,
}


async def health(request: Request) -> Response:
    return json_response({"status": "ok"}, no_store=False)


def create_app(context: Services, *, run_migrations: bool = False) -> FastAPI:
    """The FastAPI application over ``context`` (built by :func:`keyturn.services.context.build_services`)."""
    settings = context.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await context.start(run_migrations=run_migrations)
        yield
        await context.close()

    app = FastAPI(title="Keyturn", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
                  openapi_url="/openapi.json",
                  description="Management API of Keyturn. OAuth endpoints are described by discovery.")
    app.state.ctx = context
    app.state.settings = settings

    for exc_type, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(exc_type, handler)

    r = app.router
    r.add_route("/health", health, methods=["GET"], include_in_schema=False)
    for path in ("/token", "/api/v2/access/token"):
        r.add_route(path, token.token_endpoint, methods=["POST"], include_in_schema=False)
    r.add_route("/introspect", introspection.introspect_endpoint, methods=["POST"], include_in_schema=False)
    r.add_route("/revoke", introspection.revoke_endpoint, methods=["POST"], include_in_schema=False)
    for path in ("/.well-known/jwks.json", "/jwks.json", "/jwks"):
        r.add_route(path, discovery.jwks, methods=["GET"], include_in_schema=False)
    r.add_route("/.well-known/oauth-authorization-server", discovery.oauth_metadata, methods=["GET"],
                include_in_schema=False)
    app.include_router(credential_api.router)
    app.include_router(access_api.router)  # accounts, memberships, API keys, decision + forward-auth
    oidc.install(app)  # authorization endpoint, login, consent, userinfo, logout
    # Every preflight, and CORS on the API's answers; inside SecurityHeaders so preflights get them too.
    app.state.cors = cors.CorsPolicy(context, app.router.routes)
    app.add_middleware(cors.CorsMiddleware, policy=app.state.cors)
    app.add_middleware(SecurityHeaders, hsts=settings.issuer.startswith("https://"))
    return app


def create_asgi(context: Services, *, run_migrations: bool = False) -> ASGIApp:
    """What `keyturn serve` runs: the app behind a lean front for the hot OAuth endpoints."""
    return front(create_app(context, run_migrations=run_migrations), context.settings)


def front(app: FastAPI, settings: Settings) -> ASGIApp:
    """The layers `keyturn serve` puts around the app (the in-process tests' `client` goes through them too).

    The front runs the very same endpoint functions as the app's routes, with the app's exception
    handlers, security headers and CORS policy; it only skips the framework layers around them.
    """
    hot = {("POST", "/token"): token.token_endpoint, ("POST", "/api/v2/access/token"): token.token_endpoint,
           ("POST", "/introspect"): introspection.introspect_endpoint,
           ("GET", "/api/account-memberships"): access_api.account_memberships_endpoint}
    fast = FastPath(app, hot, SecurityHeaders(app, hsts=settings.issuer.startswith("https://")).extra,
                    ERROR_HANDLERS, app.state.cors)
    return AccessLog(fast) if settings.access_log else fast
