"""services/introspection.py over HTTP: RFC 7662 answers reveal nothing about tokens that are not live or not the
caller's, and RFC 7009 revocation is a silent success for what a client may not revoke — except that a
confidential client naming another client's token is told so (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx

from keyturn.core import jose
from keyturn.services.oidc import clients as oidc_clients

SPA_ORIGIN = "https://spa.example"


async def _tokens(client: httpx.AsyncClient, cred: Any) -> dict[str, Any]:
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _active(client: httpx.AsyncClient, cred: Any, token: str) -> bool:
    r = await client.post("/introspect", data={"token": token}, auth=cred.basic)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return bool(r.json()["active"])


async def _spa(ctx: Any) -> str:
    issued = await oidc_clients.create(ctx, name="SPA", public=True, redirect_uris=[f"{SPA_ORIGIN}/cb"],
                                       origins=[SPA_ORIGIN])
    return issued.record.client_id


async def test_the_token_parameter_is_required(client, make_credential):
    """RFC 7662 §2.1 and RFC 7009 §2.1: ``token`` is REQUIRED."""
    cred = await make_credential()
    for path in ("/introspect", "/revoke"):
        r = await client.post(path, data={"token_type_hint": "access_token"}, auth=cred.basic)
        assert r.status_code == 400 and r.json() == {"error": "invalid_request",
                                                     "error_description": "token is required"}, path


async def test_a_jwt_from_a_key_we_never_had_is_inactive(client, make_credential, clock):
    cred = await make_credential()
    private = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(private, "ES256")
    now = int(clock())
    forged = jose.sign({"iss": "http://keyturn.test", "sub": cred.client_id, "aud": "http://keyturn.test",
                        "client_id": cred.client_id, "jti": "j", "iat": now, "exp": now + 600},
                       jose.SigningKey(jwk["kid"], "ES256", private, jwk), typ="at+jwt")
    r = await client.post("/introspect", data={"token": forged}, auth=cred.basic)
    assert r.json() == {"active": False}


async def test_a_used_or_unknown_refresh_token_is_inactive(client, make_credential):
    cred = await make_credential(refresh="1d")
    first = (await _tokens(client, cred))["refresh_token"]
    assert await _active(client, cred, first)
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first}, auth=cred.basic)
    assert r.status_code == 200
    assert not await _active(client, cred, first)  # rotated: the old one is used
    assert await _active(client, cred, r.json()["refresh_token"])
    assert not await _active(client, cred, "ktrt_" + "x" * 43)


async def test_only_the_owner_learns_about_its_refresh_token(client, make_credential):
    owner, other = await make_credential(refresh="1d"), await make_credential()
    refresh = (await _tokens(client, owner))["refresh_token"]
    assert not await _active(client, other, refresh)
    assert await _active(client, owner, refresh)


async def test_revoking_another_clients_refresh_token(client, ctx, make_credential):
    """RFC 7009 §2.1: a token not issued to the caller is not revoked; a confidential caller gets invalid_request,
    a public one (which anyone can impersonate) a silent 200."""
    owner, other = await make_credential(refresh="1d"), await make_credential()
    refresh = (await _tokens(client, owner))["refresh_token"]
    r = await client.post("/revoke", data={"token": refresh}, auth=other.basic)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_request", "error_description": "this token was not issued to the requesting client"}
    spa = await _spa(ctx)
    r = await client.post("/revoke", data={"token": refresh, "client_id": spa})
    assert (r.status_code, r.json()) == (200, {})
    assert await _active(client, owner, refresh)  # neither call revoked it


async def test_a_public_client_cannot_revoke_another_clients_access_token(client, ctx, make_credential):
    owner = await make_credential()
    access = (await _tokens(client, owner))["access_token"]
    spa = await _spa(ctx)
    r = await client.post("/revoke", data={"token": access, "client_id": spa}, headers={"Origin": SPA_ORIGIN})
    assert (r.status_code, r.json()) == (200, {})
    assert r.headers["access-control-allow-origin"] == SPA_ORIGIN  # R95: the SPA's own origin may read it
    assert await _active(client, owner, access)


async def test_revoking_a_token_that_is_not_ours_at_all_is_a_silent_success(client, make_credential):
    cred = await make_credential()
    for junk in ("not-a-token", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"):
        r = await client.post("/revoke", data={"token": junk}, auth=cred.basic)
        assert (r.status_code, r.json()) == (200, {}), junk


async def test_a_users_refresh_token_names_the_user(client, ctx, make_user):
    """RFC 7662 §2.2: ``sub`` is the resource owner who authorized the token (absent for a credential's)."""
    from tests.oidc.helpers import REDIRECT, authorize_code, make_client

    user = await make_user()
    rp = await make_client(ctx, public=False)
    basic = (rp["client_id"], rp["client_secret"])
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                          "code_verifier": verifier}, auth=basic)
    assert r.status_code == 200, r.text
    got = (await client.post("/introspect", data={"token": r.json()["refresh_token"]}, auth=basic)).json()
    assert got["active"] is True and got["token_type"] == "refresh_token"
    assert (got["sub"], got["client_id"], got["iss"]) == (user.id, rp["client_id"], "http://keyturn.test")
