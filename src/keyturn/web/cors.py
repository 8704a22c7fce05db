"""CORS for the paths a browser app calls with a token or key; never the authorization endpoint.

An Origin is reflected only when a client allows it (RFC 9700 §2.6, ASVS 3.4.2):
a credential's ``domain`` patterns or an OIDC client's registered origins. Never ``*``.
One mechanism (:class:`CorsPolicy`) answers every preflight, on the app and on the lean front.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.core.paths import API_PREFIX
from keyturn.services.context import Services
from keyturn.web.allow_origin import allow_headers
from keyturn.web.routes import table
from keyturn.web.routing import Cors, Route

PREFLIGHT_MAX_AGE = "600"


def allowed_request_headers(account_header: str) -> str:
    """``Access-Control-Allow-Headers``: the credentials, the body's type, the account-selection header
    (``KEYTURN_ACCOUNT_HEADER``)."""
    return f"Authorization, Content-Type, DPoP, X-Api-Key, {account_header}"  # DPoP: RFC 9449 §4.1


def preflight_headers(origin: str, methods: str, allowed: str) -> dict[str, str]:
    return {**allow_headers(origin), "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": allowed, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE}


NONE, PREFLIGHT_ONLY, FULL = Cors.NONE, Cors.PREFLIGHT_ONLY, Cors.FULL
PROBED_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
_VARY = b"vary"
_ACAO = b"access-control-allow-origin"
_CONTENT_TYPE = b"content-type"


class PathKinds:
    """Each path's treatment, from the route table (keyturn.web.routes; the defaults follow the audience).

    A path the table names is treated as its route says; a path refused CORS is refused with trailing
    slashes too; any other path under ``/api/`` (the management and decision API, whose paths have
    parameters) gets the full treatment; everything else none.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.exact = {r.path: r.cors_kind for r in routes if "{" not in r.path}
        self.refused = frozenset(p for p, kind in self.exact.items() if kind is Cors.NONE)

    def __call__(self, path: str) -> Cors:
        kind = self.exact.get(path)
        if kind is not None:
            return kind
        if path.rstrip("/") in self.refused:
            return Cors.NONE
        return Cors.FULL if path.startswith(API_PREFIX) else Cors.NONE


path_kind = PathKinds(table())


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
        self.allowed_headers = allowed_request_headers(ctx.settings.account_header)
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
            return Response(status_code=204, headers=preflight_headers(origin, methods, self.allowed_headers))
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
