"""The error pipeline (web/errors.py) answers each exception family in its shape, chosen by type and, for
framework errors and bearer challenges, by the audience of the matched route (web/routes.py); endpoints that
decide their own CORS headers keep them on their refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.web import routes
from keyturn.wire.common import plain
from keyturn.wire.oidc_clients import ClientOut

ORIGIN = "https://shop.example.test"
INVALID = "the access token is invalid, expired or revoked"


@pytest.fixture
async def registered(ctx: Any) -> dict[str, Any]:
    """A browser app (public OIDC client) registering ORIGIN as its CORS origin."""
    issued = await oidc_clients.create(ctx, name="Shop", public=True, redirect_uris=[f"{ORIGIN}/cb"],
                                       origins=[ORIGIN])
    return dict(plain(ClientOut.of(issued.record)))


def test_every_method_and_path_is_routed_once() -> None:
    seen = [(m, r.path) for r in routes.table() for m in r.methods]
    assert len(seen) == len(set(seen))
    assert {(m, r.path) for r in routes.hot() for m in r.methods} == {
        ("POST", "/token"), ("POST", "/api/v2/access/token"), ("POST", "/introspect"),
        ("GET", "/api/account-memberships")}


async def test_userinfo_refusals_are_rfc_6750_challenges(client: httpx.AsyncClient, ctx: Any, make_user: Any) -> None:
    r = await client.get("/userinfo", headers={"Authorization": "Basic abc"})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_request",
                                               "error_description": "malformed Authorization header"})
    assert r.headers["www-authenticate"] == ('Bearer realm="keyturn", error="invalid_request", '
                                             'error_description="malformed Authorization header"')
    assert r.headers["cache-control"] == "no-store"
    r = await client.post("/userinfo", data={"access_token": "a"}, headers={"Authorization": "Bearer b"})
    assert (r.status_code, r.json()["error_description"]) == (400, "send the token one way only")
    r = await client.get("/userinfo")
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (401, {"error": "invalid_token"},
                                                                        'Bearer realm="keyturn"')
    r = await client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert (r.status_code, r.json()) == (401, {"error": "invalid_token", "error_description": INVALID})
    assert r.headers["www-authenticate"] == (f'Bearer realm="keyturn", error="invalid_token", '
                                             f'error_description="{INVALID}"')
    user = await make_user()  # an operator-minted token without openid
    r = await client.get("/userinfo", headers=user.headers)
    assert (r.status_code, r.json()) == (403, {"error": "insufficient_scope",
                                               "error_description": "the access token lacks the openid scope"})
    assert r.headers["www-authenticate"] == ('Bearer realm="keyturn", error="insufficient_scope", '
                                             'error_description="the access token lacks the openid scope", '
                                             'scope="openid"')


@pytest.mark.usefixtures("registered")
async def test_userinfo_cors_is_any_clients_until_the_token_names_its_own(client: httpx.AsyncClient, ctx: Any,
                                                                          make_user: Any) -> None:
    r = await client.get("/userinfo", headers={"Origin": ORIGIN, "Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="openid", kind="user",
                                 now=ctx.clock())
    r = await client.get("/userinfo", headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["sub"] == user.id
    assert "access-control-allow-origin" not in r.headers  # the operator client registers no origin


@pytest.mark.usefixtures("registered")
async def test_token_refusals_keep_the_endpoints_cors_decision(client: httpx.AsyncClient, make_credential: Any) -> None:
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, "wrong"),
                          headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["access-control-allow-origin"] == ORIGIN  # some client allows it; this one is unknown yet
    assert r.headers["www-authenticate"] == 'Basic realm="keyturn", error="invalid_client"'
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers={"Origin": ORIGIN})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    assert "access-control-allow-origin" not in r.headers  # the credential allows no browser origin (R95)
    r = await client.post("/introspect", data={"token": "x"}, auth=(cred.client_id, "wrong"),
                          headers={"Origin": ORIGIN})
    assert r.status_code == 401 and "access-control-allow-origin" not in r.headers


async def test_framework_errors_take_the_shape_of_the_routes_audience(client: httpx.AsyncClient) -> None:
    r = await client.get("/token")
    assert (r.status_code, r.json()) == (405, {"error": "invalid_request", "error_description": "use POST"})
    assert r.headers["allow"] == "POST" and r.headers["cache-control"] == "no-store"
    r = await client.put("/userinfo")
    assert (r.status_code, r.json()["error"]) == (405, "invalid_request")
    for method, path in (("POST", "/jwks"), ("DELETE", "/authorize"), ("POST", "/health")):
        r = await client.request(method, path)
        assert (r.status_code, r.json()) == (405, {"status": "ERROR", "error": "METHOD_NOT_ALLOWED",
                                                   "message": "Method Not Allowed"}), path
        assert r.headers["cache-control"] == "no-store", path  # every framework error, like every API answer
    r = await client.get("/nope")
    assert (r.status_code, r.json()["error"]) == (404, "NOT_FOUND")
    r = await client.get("/api/account-memberships", headers={"Authorization": "Bearer nope"})
    assert (r.status_code, r.json()["error"]) == (401, "UNAUTHORIZED")
    assert r.headers["www-authenticate"].startswith('Bearer realm="keyturn", error="invalid_token"')
