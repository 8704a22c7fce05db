"""``POST /api/oidc-clients`` takes Keyturn's names or RFC 7591's, through the one metadata parser
(services/oidc/metadata.py): metadata Keyturn does not support is refused naming it (issue 14), never dropped."""

from __future__ import annotations

import pytest

from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.oidc.helpers import REDIRECT, authorize_code, exchange


@pytest.fixture
async def admin(ctx, make_user):
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("extra", "named"), [
    ({"token_endpoint_auth_method": "private_key_jwt"}, "private_key_jwt"),
    ({"token_endpoint_auth_method": "tls_client_auth"}, "tls_client_auth_subject_dn"),  # RFC 8705: needs the DN
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth"}, "self_signed_tls_client_auth"),
    ({"tls_client_auth_subject_dn": "CN=x"}, "tls_client_auth_subject_dn"),  # without tls_client_auth
    ({"jwks_uri": "https://app.example.test/jwks"}, "jwks_uri"),
    ({"jwks": {"keys": []}}, "jwks"),
    ({"token_endpoint_auth_signing_alg": "ES256"}, "token_endpoint_auth_signing_alg"),
    ({"grant_types": ["client_credentials"]}, "client_credentials"),
    ({"response_types": ["code id_token"]}, "code id_token"),
    ({"application_type": "desktop"}, "application_type"),
    ({"client_name#ja-Jpan-JP": "x"}, "client_name#ja-Jpan-JP"),
])
async def test_unsupported_metadata_is_refused_naming_it(client, admin, extra, named):
    body = {"client_name": "RP", "redirect_uris": [REDIRECT], **extra}
    r = await client.post("/api/oidc-clients", json=body, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "INVALID_CLIENT_METADATA" and named in r.json()["message"]
    assert (await client.get("/api/oidc-clients", headers=admin)).json()["data"] == []


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "a", "client_name": "b"}, "INVALID_CLIENT_METADATA"),
    ({"type": "public", "token_endpoint_auth_method": "none"}, "INVALID_CLIENT_METADATA"),
    ({"refresh_tokens": False, "grant_types": ["authorization_code"]}, "INVALID_CLIENT_METADATA"),
    ({}, "INVALID_REQUEST"),  # no name at all
])
async def test_one_name_per_field(client, admin, body, code):
    r = await client.post("/api/oidc-clients", json={"redirect_uris": [REDIRECT], **body}, headers=admin)
    assert r.status_code == 400 and r.json()["error"] == code, r.text


async def test_rfc7591_names_register_what_they_say(client, ctx, admin, make_user):
    body = {"client_name": "RP", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code"], "response_types": ["code"], "first_party": True,
            "client_uri": "https://app.example.test", "contacts": ["ops@example.test"], "application_type": "web"}
    r = await client.post("/api/oidc-clients", json=body, headers=admin)
    assert r.status_code == 201, r.text
    d = r.json()["data"]
    assert d["type"] == "confidential" and d["token_endpoint_auth_method"] == "client_secret_post"
    assert d["grant_types"] == ["authorization_code"] and d["refresh_tokens"] is False
    assert d["client_uri"] == "https://app.example.test" and d["contacts"] == ["ops@example.test"]
    listed = (await client.get("/api/oidc-clients", headers=admin)).json()["data"]
    assert listed[0]["token_endpoint_auth_method"] == "client_secret_post" and "client_secret" not in listed[0]
    user = await make_user()
    code, verifier, _ = await authorize_code(client, d["client_id"], user)
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                          "code_verifier": verifier}, auth=(d["client_id"], d["client_secret"]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"  # registered for client_secret_post
    r = await exchange(client, d["client_id"], code, verifier, client_secret=d["client_secret"])
    assert r.status_code == 200, r.text


async def test_keyturn_names_keep_their_meaning(client, admin):
    body = {"name": "RP", "type": "confidential", "redirect_uris": [REDIRECT]}
    r = await client.post("/api/oidc-clients", json=body, headers=admin)
    assert r.status_code == 201, r.text
    d = r.json()["data"]
    assert d["token_endpoint_auth_method"] == "client_secret_basic" and d["refresh_tokens"] is True
    assert d["grant_types"] == ["authorization_code", "refresh_token"] and "client_uri" not in d
