"""web/cors.py, unit by unit: the headers an actual answer gets, the preflight's methods, and what passes by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Message, Receive, Scope, Send

from keyturn.services.context import Services
from keyturn.settings import Settings
from keyturn.web.cors import CorsMiddleware, CorsPolicy, add_headers

ORIGIN = "https://shop.example"


def test_an_html_page_gets_no_cors_header():
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    add_headers(headers, ORIGIN, True)
    assert headers == [(b"content-type", b"text/html; charset=utf-8")]


def test_an_answer_whose_endpoint_decided_keeps_that_decision():
    """R95: the token endpoint reflects an origin only for its own client; nothing is added to its answer."""
    headers = [(b"content-type", b"application/json"), (b"access-control-allow-origin", b"https://app.example")]
    add_headers(headers, ORIGIN, True)
    assert [v for k, v in headers if k == b"access-control-allow-origin"] == [b"https://app.example"]


def test_vary_origin_joins_an_existing_vary_once():
    headers = [(b"Vary", b"Accept-Encoding")]
    add_headers(headers, ORIGIN, True)
    assert headers == [(b"Vary", b"Accept-Encoding, Origin"), (b"access-control-allow-origin", ORIGIN.encode())]
    again = [(b"vary", b"origin")]
    add_headers(again, None, False)
    assert again == [(b"vary", b"origin")]


def test_an_origin_no_client_allows_gets_vary_only_never_a_wildcard():
    headers: list[tuple[bytes, bytes]] = []
    add_headers(headers, ORIGIN, False)
    assert headers == [(b"vary", b"Origin")]


@dataclass
class Origins:
    allowed: frozenset[str]

    async def allows(self, origin: str, now: float) -> bool:
        return origin in self.allowed


@dataclass
class Ctx:
    """What the policy reads of the services: the origin index, the clock, the account-selection header."""

    origins: Origins
    settings: Settings = Settings(environment="development")

    def clock(self) -> float:
        return 0.0


def _policy(routes: list[BaseRoute], allowed: frozenset[str] = frozenset({ORIGIN})) -> CorsPolicy:
    return CorsPolicy(cast(Services, Ctx(Origins(allowed))), routes)


async def ok(request: Request) -> Response:
    return Response("ok")


class Broken(BaseRoute):
    """A route that cannot judge a bare scope (e.g. a mount needing more of it)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raise KeyError("app_root_path")


def _scope(path: str, method: str = "OPTIONS", origin: str | None = ORIGIN) -> Scope:
    headers = [(b"origin", origin.encode())] if origin else []
    return {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b"",
            "root_path": ""}


async def test_the_preflight_names_exactly_the_methods_the_routes_serve():
    policy = _policy([Broken(), Route("/api/things", ok, methods=["GET", "POST"])])
    answer = await policy.preflight(_scope("/api/things"))
    assert answer is not None and answer.status_code == 204
    assert answer.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-headers"] == \
        "Authorization, Content-Type, DPoP, X-Api-Key, X-Keyturn-Account"
    refused = await policy.preflight(_scope("/api/things", origin="https://evil.example"))
    assert refused is not None and "access-control-allow-origin" not in refused.headers
    assert await policy.preflight(_scope("/api/nothing-here")) is None  # the app answers (404)


async def test_the_preflight_allows_the_configured_account_header_only():
    ctx = Ctx(Origins(frozenset({ORIGIN})), Settings(environment="development", account_header="X-Centrapay-Account"))
    policy = CorsPolicy(cast(Services, ctx), [Route("/api/things", ok, methods=["GET"])])
    answer = await policy.preflight(_scope("/api/things"))
    assert answer is not None
    allowed = answer.headers["access-control-allow-headers"]
    assert allowed == "Authorization, Content-Type, DPoP, X-Api-Key, X-Centrapay-Account"


def test_the_methods_memo_is_bounded():
    policy = _policy([Route("/api/things", ok, methods=["GET"])])
    policy.MAX_PATHS = 3
    for i in range(5):
        policy.methods(f"/api/x{i}")
    assert len(policy._methods) <= 3
    assert policy.methods("/api/things") == "GET, OPTIONS" and policy.methods("/api/x9") is None


async def _call(middleware: CorsMiddleware, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


async def test_non_http_scopes_and_unserved_preflights_reach_the_app():
    reached: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["type"])
        if scope["type"] == "http":
            await Response(status_code=404)(scope, receive, send)

    middleware = CorsMiddleware(app, _policy([Route("/api/things", ok, methods=["GET"])]))
    assert await _call(middleware, {"type": "lifespan"}) == []
    sent = await _call(middleware, _scope("/api/nothing-here"))
    assert reached == ["lifespan", "http"]
    start = sent[0]
    assert start["status"] == 404
    assert (b"access-control-allow-origin", ORIGIN.encode()) in start["headers"]  # an app can read its 404
