"""CORS on the served front: every path a browser app calls with a token or key answers preflights for the
registered origins of some active client and refuses others; never at the authorization endpoint (R12)
nor on HTML pages; the same answers on the lean front and on the bare app (one mechanism)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.origin_index import ALL_ORIGINS_TTL
from keyturn.web import cors
from keyturn.wire.common import plain
from keyturn.wire.oidc_clients import ClientOut

ORIGIN = "https://shop.example.test"
FOREIGN = "https://evil.example.test"

# path → a method it allows (checked in Access-Control-Allow-Methods)
PREFLIGHT_PATHS: list[tuple[str, str]] = [
    ("/api/account-memberships", "GET"),
    ("/api/users/u-1/account-memberships", "GET"),
    ("/api/accounts", "POST"),
    ("/api/accounts/acc-1", "GET"),
    ("/api/accounts/acc-1/members", "POST"),
    ("/api/accounts/acc-1/api-keys", "POST"),
    ("/api/v2/credential", "POST"),
    ("/api/v2/credential/cid-1", "DELETE"),
    ("/api/authorize", "POST"),
    ("/auth/forward", "GET"),
    ("/logout", "POST"),
    ("/userinfo", "GET"),
    ("/token", "POST"),
    ("/api/v2/access/token", "POST"),
    ("/revoke", "POST"),
    ("/introspect", "POST"),
    ("/.well-known/openid-configuration", "GET"),
    ("/.well-known/oauth-authorization-server", "GET"),
    ("/.well-known/jwks.json", "GET"),
    ("/jwks.json", "GET"),
]
NO_CORS_PATHS = ["/authorize", "/api/v2/access/authorize"]


@pytest.fixture
async def registered(ctx: Any) -> dict[str, Any]:
    """A browser app (public OIDC client) registering ORIGIN as its CORS origin."""
    issued = await oidc_clients.create(ctx, name="Shop", public=True, redirect_uris=[f"{ORIGIN}/cb"],
                                       origins=[ORIGIN])
    return dict(plain(ClientOut.of(issued.record)))


def _preflight(origin: str, method: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization"}


def _cors_headers(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k.startswith("access-control-")}


@pytest.mark.usefixtures("registered")
async def test_preflight_is_answered_for_a_registered_origin_on_every_browser_path(client: httpx.AsyncClient) -> None:
    for path, method in PREFLIGHT_PATHS:
        r = await client.options(path, headers=_preflight(ORIGIN, method))
        assert r.status_code == 204, (path, r.status_code, r.text)
        assert r.headers["access-control-allow-origin"] == ORIGIN, path
        assert "Origin" in r.headers["vary"], path
        methods = [m.strip() for m in r.headers["access-control-allow-methods"].split(",")]
        assert method in methods and "OPTIONS" in methods and "*" not in methods, (path, methods)
        allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-api-key", "x-keyturn-account"} <= allowed, path
        assert int(r.headers["access-control-max-age"]) > 0
        assert "access-control-allow-credentials" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff", path


@pytest.mark.usefixtures("registered")
async def test_preflight_from_an_unregistered_origin_gets_no_cors_headers(client: httpx.AsyncClient) -> None:
    for path, method in PREFLIGHT_PATHS:
        r = await client.options(path, headers=_preflight(FOREIGN, method))
        assert _cors_headers(r) == {}, path
        assert r.status_code in (200, 204), path


async def test_preflight_methods_are_only_what_the_path_allows(client: httpx.AsyncClient, registered: Any) -> None:
    """R96: the token endpoint exposes POST only; the membership list GET only."""
    allow = {}
    for path in ("/token", "/api/account-memberships", "/userinfo", "/.well-known/jwks.json"):
        r = await client.options(path, headers=_preflight(ORIGIN, "POST"))
        allow[path] = r.headers["access-control-allow-methods"]
    assert allow == {"/token": "POST, OPTIONS", "/api/account-memberships": "GET, OPTIONS",
                     "/userinfo": "GET, POST, OPTIONS", "/.well-known/jwks.json": "GET, OPTIONS"}


@pytest.mark.usefixtures("registered")
async def test_no_cors_at_the_authorization_endpoint(client: httpx.AsyncClient) -> None:
    """RFC 9700 §2.6 (R12): neither a preflight nor a request there gets Access-Control-Allow-Origin."""
    for path in NO_CORS_PATHS + [p + "/" for p in NO_CORS_PATHS]:
        for method in ("OPTIONS", "GET", "POST"):
            r = await client.request(method, path, headers=_preflight(ORIGIN, "GET"))
            assert "access-control-allow-origin" not in r.headers, (method, path)
            assert _cors_headers(r) == {}, (method, path)


@pytest.mark.usefixtures("registered")
async def test_html_pages_get_no_cors_headers(client: httpx.AsyncClient) -> None:
    for path in ("/logout", "/interaction/nope"):
        r = await client.get(path, headers={"Origin": ORIGIN})
        assert r.headers["content-type"].startswith("text/html"), path
        assert _cors_headers(r) == {}, path


@pytest.mark.usefixtures("registered")
async def test_api_answers_carry_acao_for_a_registered_origin_including_errors(client: httpx.AsyncClient,
                                                                               make_user: Any) -> None:
    user = await make_user()
    for authorization in (user.token, f"Bearer {user.token}"):  # seed 001 sends no Bearer prefix
        r = await client.get("/api/account-memberships", headers={"Authorization": authorization, "Origin": ORIGIN})
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == ORIGIN and "Origin" in r.headers["vary"]
    for path in ("/api/account-memberships", "/api/v2/credential", f"/api/users/{user.id}/account-memberships",
                 "/auth/forward"):
        r = await client.get(path, headers={"Origin": ORIGIN})  # no credential: 401, readable by the app
        assert r.status_code == 401, (path, r.text)
        assert r.headers["access-control-allow-origin"] == ORIGIN, path
    r = await client.post("/api/authorize", json={"permission": "x"}, headers={"Origin": ORIGIN,
                                                                               "Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.usefixtures("registered")
async def test_api_answers_to_an_unregistered_origin_carry_no_acao(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    r = await client.get("/api/account-memberships", headers={"Authorization": user.token, "Origin": FOREIGN})
    assert r.status_code == 200
    assert _cors_headers(r) == {} and "Origin" in r.headers["vary"]
    r = await client.get("/api/account-memberships", headers={"Origin": "null"})
    assert r.status_code == 401 and _cors_headers(r) == {}
    r = await client.get("/api/account-memberships", headers={"Authorization": user.token})
    assert _cors_headers(r) == {} and "Origin" in r.headers["vary"]


async def test_a_revoked_credentials_origin_is_refused_once_the_index_refreshes(
        client: httpx.AsyncClient, ctx: Any, clock: Any, make_user: Any, make_credential: Any) -> None:
    """Credentials' `domain` patterns count while the credential is active (R95)."""
    from keyturn.services import credentials as credentials_service
    owner = await make_user()
    cred = await make_credential(owner, domain="*.merchant.example.test")
    pos = "https://pos.merchant.example.test"
    r = await client.options("/api/account-memberships", headers=_preflight(pos, "GET"))
    assert r.headers["access-control-allow-origin"] == pos
    await credentials_service.revoke(ctx, owner.principal, cred.client_id)
    clock.advance(ALL_ORIGINS_TTL + 0.1)
    r = await client.options("/api/account-memberships", headers=_preflight(pos, "GET"))
    assert _cors_headers(r) == {}


async def test_the_front_and_the_bare_app_give_the_same_cors_answers(client: httpx.AsyncClient,
                                                                     app_client: httpx.AsyncClient,
                                                                     registered: Any, make_user: Any) -> None:
    """One mechanism: preflights and API answers are identical through `keyturn serve`'s front and the app."""
    user = await make_user()
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("OPTIONS", p, _preflight(o, m)) for p, m in PREFLIGHT_PATHS for o in (ORIGIN, FOREIGN)]
    cases += [("GET", "/api/account-memberships", {"Origin": o, "Authorization": a})
              for o in (ORIGIN, FOREIGN) for a in (user.token, "Bearer bad")]
    cases += [("POST", p, {"Origin": o}) for p in ("/token", "/api/v2/access/token", "/introspect")
              for o in (ORIGIN, FOREIGN)]  # the front's direct routes, refused: the same headers either way
    cases += [("OPTIONS", "/authorize", _preflight(ORIGIN, "GET"))]
    for method, path, headers in cases:
        body = {"grant_type": "client_credentials"} if method == "POST" else None
        via_front = await client.request(method, path, headers=headers, data=body)
        via_app = await app_client.request(method, path, headers=headers, data=body)
        assert via_front.status_code == via_app.status_code, (method, path, headers)
        for name in ("vary", "access-control-allow-origin", "access-control-allow-methods",
                     "access-control-allow-headers", "access-control-max-age", "x-content-type-options"):
            assert via_front.headers.get(name) == via_app.headers.get(name), (method, path, name)


def test_path_kinds() -> None:
    assert cors.path_kind("/authorize") == cors.NONE
    assert cors.path_kind("/api/v2/access/authorize") == cors.NONE
    assert cors.path_kind("/api/v2/access/authorize/") == cors.NONE
    assert cors.path_kind("/interaction/x") == cors.NONE
    assert cors.path_kind("/token") == cors.PREFLIGHT_ONLY
    assert cors.path_kind("/api/v2/access/token") == cors.PREFLIGHT_ONLY
    assert cors.path_kind("/api/account-memberships") == cors.FULL
    assert cors.path_kind("/logout") == cors.FULL
