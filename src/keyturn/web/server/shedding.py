"""Load shedding: at most ``KEYTURN_MAX_IN_FLIGHT`` requests in flight per worker; beyond it, 503 at once.

Under overload a server that only queues answers everything late (issue 12: p99 311 ms at 64
connections). With a limit, the requests beyond it are answered ``503`` with ``Retry-After: 1``
straight away, and the ones admitted keep their latency.

A request is counted on arrival: uvicorn starts one task per request as soon as its headers are
parsed, and a task that has not run yet is queued work too (a token request runs in one step of
the event loop, so counting only running requests would see almost none however long the queue).
So Keyturn's protocol (keyturn.web.server.protocol) calls :meth:`Shedding.arrive` when uvicorn
would start the task. A request to shed on a keep-alive connection is answered there and then
(:meth:`Shedding.response_bytes`, with its request id and an access-log line): no task, no ASGI
call, because under overload a 503 must cost far less than the work it refuses. Otherwise the
verdict rides in the scope and this layer answers 503 or lets the request through, and releases
its place when the answer is sent. Without that protocol in front (the in-process tests' ASGI
client) this layer counts the request itself when it runs.

The answer is in the shape its caller reads:

- the OAuth endpoints (token, introspection, revocation, userinfo, JWKS, discovery): RFC 6749 §5.2
  ``{"error": "temporarily_unavailable", ...}``, no-store;
- the management and decision API (``/api/…``, ``/auth/forward``): its error shape
  (keyturn.wire.common.ErrorOut) with code ``TEMPORARILY_UNAVAILABLE``;
- the authorization endpoint: ``error=temporarily_unavailable`` redirected to the client once
  the client and redirect URI are proven, else the error page (keyturn.web.protocol.authorize.
  busy_endpoint: a cached client lookup, nothing written);
- anything else (the login pages, which a browser shows): plain text.

Health, readiness and metrics paths are never shed: a load balancer must still tell a busy node
from a dead one, and an operator must still see why it is busy. ``0`` turns the limit off (the
layer is then not installed at all). Each shed request counts in ``keyturn_load_shed_total``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keyturn.metrics import LOAD_SHED
from keyturn.web.routing import Audience, Cors, Route
from keyturn.web.server.requestid import REQUEST_ID_KEY, request_id_from
from keyturn.wire.common import ErrorOut

EXEMPT = frozenset({"/health", "/healthz", "/readyz", "/metrics"})
VERDICT_KEY = "keyturn.shedding"
ADMITTED, SHED = "admitted", "shed"
MESSAGE = "the server is at its limit of requests in flight; retry in a second"
RETRY_AFTER = b"1"

_JSON = b"application/json"
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]

OAUTH_BODY = orjson.dumps({"error": "temporarily_unavailable", "error_description": MESSAGE})
API_BODY = orjson.dumps(ErrorOut(error="TEMPORARILY_UNAVAILABLE", message=MESSAGE).model_dump())
PLAIN_BODY = b"Service temporarily unavailable: " + MESSAGE.encode() + b".\n"


Answer = tuple[bytes, list[tuple[bytes, bytes]]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _answer(body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]) -> Answer:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               (b"retry-after", RETRY_AFTER), *_NO_STORE, *extra]
    return body, headers


class Shedding:
    """ASGI middleware holding one worker's in-flight count."""

    def __init__(self, app: ASGIApp, limit: int, routes: Iterable[Route],
                 extra_headers: list[tuple[bytes, bytes]], busy: Mapping[str, Endpoint] | None = None,
                 endpoint_app: ASGIApp | None = None) -> None:
        """``busy``: paths whose shed answer an endpoint gives (run with ``endpoint_app`` as the request's app,
        as keyturn.web.server.fastpath does), not a fixed body."""
        if limit < 1:
            raise ValueError("limit must be at least 1 (0 means: do not install the layer)")
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.busy = dict(busy or {})
        self.endpoint_app = endpoint_app
        self._busy_headers = [(b"retry-after", RETRY_AFTER), *extra_headers]
        self._oauth = _answer(OAUTH_BODY, _JSON, extra_headers)
        self._api = _answer(API_BODY, _JSON, extra_headers)
        self._plain = _answer(PLAIN_BODY, b"text/plain; charset=utf-8", extra_headers)
        self._by_path: dict[str, Answer] = {}
        for route in routes:
            if "{" in route.path:
                continue  # templated paths: by prefix below
            if route.audience is Audience.PROTOCOL:  # the authorization endpoint (no CORS) answers browsers
                self._by_path[route.path] = self._plain if route.cors_kind is Cors.NONE else self._oauth
            elif route.audience in (Audience.MANAGEMENT, Audience.DECISION):
                self._by_path[route.path] = self._api

    def answers_on_the_wire(self, path: str) -> bool:
        """Whether a shed request to ``path`` gets a fixed answer (the protocol may write it itself)."""
        return path not in self.busy

    def response_bytes(self, scope: Scope) -> bytes:
        """The whole 503 answer to ``scope`` as it goes on the wire (keyturn.web.server.protocol writes it
        without starting a task for it), with the request's id."""
        body, headers = self.answer_for(scope["path"])
        scope[REQUEST_ID_KEY] = request_id = request_id_from(scope["headers"])  # for its access-log line
        rid = request_id.encode("ascii")
        head = b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
        return b"HTTP/1.1 503 Service Unavailable\r\n" + head + b"x-request-id: " + rid + b"\r\n\r\n" + body

    def answer_for(self, path: str) -> Answer:
        found = self._by_path.get(path)
        if found is not None:
            return found
        return self._api if path.startswith("/api/") else self._plain

    def arrive(self, scope: Scope) -> None:
        """A request's headers are in: admit it (and count it) or mark it to be shed; exempt paths get no verdict."""
        if scope["path"] in EXEMPT:
            return
        if self.in_flight >= self.limit:
            scope[VERDICT_KEY] = SHED
        else:
            self.in_flight += 1
            scope[VERDICT_KEY] = ADMITTED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        verdict = scope.get(VERDICT_KEY)
        if verdict is None:  # not counted on arrival (no Keyturn protocol in front of the app)
            self.arrive(scope)
            verdict = scope.get(VERDICT_KEY)
            if verdict is None:  # exempt
                await self.app(scope, receive, send)
                return
        if verdict == SHED:
            LOAD_SHED.inc()
            endpoint = self.busy.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self.endpoint_app
                request = Request(scope, receive)
                response = await endpoint(request)
                response.raw_headers.extend(self._busy_headers)
                await response(scope, receive, send)
                return
            body, headers = self.answer_for(scope["path"])
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


L = TypeVar("L")


def find_layer(app: object, kind: type[L]) -> L | None:
    """The layer of type ``kind`` among ``app``'s wrapped layers (``.app`` chains), if there is one."""
    layer: object | None = app
    while layer is not None:
        if isinstance(layer, kind):
            return layer
        layer = getattr(layer, "app", None)
    return None


def find_shedding(app: object) -> Shedding | None:
    return find_layer(app, Shedding)
