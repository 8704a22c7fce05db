"""Seed 000 §1.3.3: the client-credentials grant at both token paths, form and JSON."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import ISSUER


@pytest.mark.parametrize("path", ["/token", "/api/v2/access/token"])
async def test_json_body_exactly_as_the_seed_sends_it(client, make_credential, path):
    cred = await make_credential(refresh="1d")
    r = await client.post(path, json={"grant_type": "client_credentials", "client_id": cred.client_id,
                                      "client_secret": cred.client_secret})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "payments:read payments:write"
    assert body["refresh_token"].startswith("ktrt_")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]


async def test_basic_auth_form_body_and_claims(client, make_credential, clock):
    cred = await make_credential(refresh="none")
    r = await client.post("/token", data={"grant_type": "client_credentials", "scope": "payments:read"},
                          auth=cred.basic)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == ISSUER
    assert claims["sub"] == cred.client_id == claims["client_id"]
    assert claims["scope"] == "payments:read"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["kind"] == "credential"
    assert claims["jti"]


async def test_wrong_secret_is_401_invalid_client_with_basic_challenge(client, make_credential):
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, "nope"))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")
    assert r.headers["cache-control"] == "no-store"


async def test_scope_beyond_the_credential_is_invalid_scope(client, make_credential):
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "scope": "payments:admin"},
                          auth=cred.basic)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"
