"""Seed 000's second flow: a credential uses /api/v2/access/authorize → login → code →
/api/v2/access/token with ``code_verifier`` in a JSON body."""

from __future__ import annotations

import jwt

from tests.oidc.helpers import REDIRECT, authorize_code


async def test_credential_code_flow_with_pkce_and_a_json_token_request(client, make_credential, make_user):
    person = await make_user()
    cred = await make_credential(redirect=REDIRECT, scope="ALLOW_EXTERNAL_CHARGE ALLOW_OTA_CHARGE", refresh="1d")
    code, verifier, q = await authorize_code(client, cred.client_id, person, path="/api/v2/access/authorize",
                                             scope="ALLOW_EXTERNAL_CHARGE", nonce=None)
    assert q["state"] == "st-1" and q["iss"] == "http://keyturn.test"
    r = await client.post("/api/v2/access/token", json={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT,
        "client_id": cred.client_id, "client_secret": cred.client_secret})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "ALLOW_EXTERNAL_CHARGE" and body["expires_in"] == 3600
    assert body["refresh_token"].startswith("ktrt_") and "id_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == person.id and claims["client_id"] == cred.client_id and claims["kind"] == "user"
    refreshed = await client.post("/api/v2/access/token", json={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": cred.client_id,
        "client_secret": cred.client_secret})
    assert refreshed.status_code == 200, refreshed.text


async def test_credential_code_exchange_without_its_secret_is_invalid_client(client, make_credential, make_user):
    person = await make_user()
    cred = await make_credential(redirect=REDIRECT, scope="ALLOW_EXTERNAL_CHARGE")
    code, verifier, _ = await authorize_code(client, cred.client_id, person, path="/api/v2/access/authorize")
    r = await client.post("/api/v2/access/token", json={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier, "client_id": cred.client_id})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
