"""CORS for the paths a browser app calls with a token or key; never the authorization endpoint.

An Origin is reflected only when a client allows it (RFC 9700 §2.6, ASVS 3.4.2):
a credential's ``domain`` patterns or an OIDC client's registered origins. Never ``*``.
One mechanism (:class:`CorsPolicy`) answers every preflight, on the app and on the lean front.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.services.context import Services


def allow_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, X-Api-Key, X-Keyturn-Account"
PREFLIGHT_MAX_AGE = "600"


def preflight_headers(origin: str, methods: str) -> dict[str, str]:
    return {**allow_headers(origin), "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE}


# Which paths a browser app may call cross-origin. RFC 9700 §2.6 (R12): never the authorization
# endpoint; and no HTML page ever gets CORS headers (see `add_headers`).
NO_CORS = frozenset({"/authorize", "/api/v2/access/authorize"})
# These endpoints set their own CORS headers, so here they get their preflight only: token, revocation
# and userinfo reflect the Origin only when the requesting client allows it (R95), discovery and the
# JWKS when any client does; introspection answers (for resource servers) carry none.
ENDPOINT_DECIDES = frozenset({
    "/token", "/api/v2/access/token", "/revoke", "/introspect", "/userinfo",
    "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json", "/jwks.json", "/jwks"})
# Called with a user token, an API key or a credential's token: the management and decision API
# (everything under /api/), forward-auth and the end-session endpoint.
EXACT = frozenset({"/auth/forward", "/logout"})
API_PREFIX = "/api/"

NONE, PREFLIGHT_ONLY, FULL = 0, 1, 2
PROBED_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
_VARY = b"vary"
_ACAO = b"access-control-allow-origin"
_CONTENT_TYPE = b"content-type"


def path_kind(path: str) -> int:
    """NONE: no CORS; PREFLIGHT_ONLY: the endpoint decides its own responses; FULL: this module does both."""
    if path in ENDPOINT_DECIDES:
        return PREFLIGHT_ONLY
    if path.rstrip("/") in NO_CORS:
        return NONE
    if path in EXACT or path.startswith(API_PREFIX):
        return FULL
    return NONE


def request_origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return str(value.decode("latin-1"))
    return None


def add_headers(headers: list[tuple[bytes, bytes]], origin: str | None, allowed: bool) -> None:
    """Add ``Vary: Origin`` and, for an allowed origin, ``Access-Control-Allow-Origin`` to an actual response.

    Never on an HTML page, never ``*``, and never a second ACAO when the endpoint already decided.
    """
    vary_at = -1
    for i, (name, value) in enumerate(headers):
        lowered = name.lower()
        if lowered == _CONTENT_TYPE and value.startswith(b"text/html"):
            return
        if lowered == _ACAO:
            return
        if lowered == _VARY:
            vary_at = i
    if vary_at < 0:
        headers.append((_VARY, b"Origin"))
    elif b"origin" not in headers[vary_at][1].lower():
        headers[vary_at] = (headers[vary_at][0], headers[vary_at][1] + b", Origin")
    if allowed and origin is not None:
        headers.append((_ACAO, origin.encode("latin-1")))


class CorsPolicy:
    """The one CORS mechanism, used by the app's middleware and by the lean front's direct routes alike.

    Preflight: an ``OPTIONS`` on a CORS path is answered here, 204, with the methods the app's routes
    allow for that path (derived from the router, so they cannot drift) and the request headers a
    browser app needs, for an origin that some active client allows; any other origin gets no
    ``Access-Control-*`` header at all.
    """

    MAX_PATHS = 10000

    def __init__(self, ctx: Services, routes: Sequence[BaseRoute]) -> None:
        self.ctx = ctx
        self.routes = routes  # the router's own list: routes added later are seen
        self._methods: dict[str, str | None] = {}

    async def allows(self, origin: str) -> bool:
        return await self.ctx.origins.allows(origin, self.ctx.clock())

    def methods(self, path: str) -> str | None:
        """``Access-Control-Allow-Methods`` for a path, or None when no route serves it.

        Asked of the routes themselves through Starlette's public ``matches`` (routers included by
        FastAPI are not flattened into the list), once per path.
        """
        if path in self._methods:
            return self._methods[path]
        found = [m for m in PROBED_METHODS if any(self._full_match(route, path, m) for route in self.routes)]
        value = ", ".join([*found, "OPTIONS"]) if found else None
        if len(self._methods) >= self.MAX_PATHS:
            self._methods.clear()
        self._methods[path] = value
        return value

    @staticmethod
    def _full_match(route: BaseRoute, path: str, method: str) -> bool:
        probe: Scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
                        "query_string": b""}
        try:
            return route.matches(probe)[0] == Match.FULL
        except Exception:  # a route that cannot judge a bare scope serves no browser app
            return False

    async def preflight(self, scope: Scope) -> Response | None:
        """The answer to an ``OPTIONS`` on a CORS path, or None to let the app answer (no such path)."""
        methods = self.methods(scope["path"])
        if methods is None:
            return None
        origin = request_origin(scope)
        if origin and await self.allows(origin):
            return Response(status_code=204, headers=preflight_headers(origin, methods))
        return Response(status_code=204, headers={"Vary": "Origin"})

    async def decorate(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
        """CORS headers on an actual response of a FULL path (done in place)."""
        origin = request_origin(scope)
        add_headers(headers, origin, bool(origin) and await self.allows(origin or ""))


class CorsMiddleware:
    """ASGI middleware applying :class:`CorsPolicy` to everything the FastAPI app serves."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = path_kind(scope["path"])
        if kind == NONE:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            response = await self.policy.preflight(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        if kind == PREFLIGHT_ONLY:
            await self.app(scope, receive, send)
            return
        origin = request_origin(scope)
        allowed = bool(origin) and await self.policy.allows(origin or "")

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                add_headers(headers, origin, allowed)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)
