"""``POST /api/v2/credential`` with RFC 7591 names beside seed 000's: the same credential, and an answer that
also carries client_id/client_secret; the seed's own body keeps the seed's shape exactly (no RFC 7591 keys)."""

from __future__ import annotations

import pytest

SEED = {"name": "my.app.cu", "domain": ".*tropipay.com.* www.my.app.cu *.localhost.*",
        "scope": "ALLOW_EXTERNAL_CHARGE ALLOW_OTA_CHARGE"}
SEED_FIELDS = {"name", "domain", "scope", "ownerId", "accountId", "role", "prefix", "refresh", "type", "status",
               "username", "password", "public", "groupId", "updatedAt", "createdAt", "expiration", "redirect",
               "rateLimit"}
RFC = {"client_name": "my.app.cu", "scope": "ALLOW_EXTERNAL_CHARGE",
       "grant_types": ["client_credentials", "refresh_token"]}


async def test_seed_body_keeps_the_seed_shape(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=SEED, headers=user.headers)
    assert r.status_code == 200, r.text
    assert set(r.json()["data"]) == SEED_FIELDS


async def test_rfc7591_body_also_answers_client_id_and_secret(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=RFC, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    d = r.json()["data"]
    assert SEED_FIELDS <= set(d)
    assert d["client_id"] == d["username"] and d["client_secret"] == d["password"] and d["name"] == "my.app.cu"
    assert d["client_name"] == "my.app.cu" and d["client_secret_expires_at"] == 0 and d["refresh"] == "1d"
    assert d["grant_types"] == ["client_credentials", "refresh_token"]
    assert d["token_endpoint_auth_method"] == "client_secret_basic"
    basic = (d["client_id"], d["client_secret"])
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=basic)
    assert r.status_code == 200, r.text
    listed = (await client.get(f"/api/v2/credential/{d['client_id']}", headers=user.headers)).json()["data"]
    assert "client_secret" not in listed and "client_id" not in listed  # a read keeps the seed's shape


async def test_grant_types_decide_refresh_and_method_is_enforced(client, make_user):
    user = await make_user()
    body = {**RFC, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}
    r = await client.post("/api/v2/credential", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["refresh"] is None and d["grant_types"] == ["client_credentials"]
    assert d["token_endpoint_auth_method"] == "client_secret_post"
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": d["client_id"],
                                          "client_secret": d["client_secret"]})
    assert r.status_code == 200, r.text
    basic = (d["client_id"], d["client_secret"])
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=basic)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_redirect_uris_map_to_redirect_with_the_code_grant(client, make_user):
    user = await make_user()
    body = {**RFC, "redirect_uris": ["https://my.app.cu/cb"],
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"]}
    r = await client.post("/api/v2/credential", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["redirect"] == "https://my.app.cu/cb" and d["redirect_uris"] == ["https://my.app.cu/cb"]
    assert "authorization_code" in d["grant_types"]


@pytest.mark.parametrize(("body", "code", "named"), [
    ({"name": "a", "client_name": "b"}, "INVALID_REQUEST", "client_name"),
    ({"client_name": "a", "redirect": "https://a.example/cb", "redirect_uris": ["https://a.example/cb"]},
     "INVALID_REQUEST", "redirect_uris"),
    ({"client_name": "a", "jwks_uri": "https://a.example/jwks"}, "INVALID_CLIENT_METADATA", "jwks_uri"),
    ({"client_name": "a", "token_endpoint_auth_method": "private_key_jwt"}, "INVALID_CLIENT_METADATA",
     "private_key_jwt"),
    ({"client_name": "a", "token_endpoint_auth_method": "none"}, "INVALID_CLIENT_METADATA", "none"),
    ({"client_name": "a", "grant_types": ["implicit"]}, "INVALID_CLIENT_METADATA", "implicit"),
    ({"client_name": "a", "grant_types": ["refresh_token"]}, "INVALID_CLIENT_METADATA", "client_credentials"),
    ({"client_name": "a", "grant_types": ["client_credentials", "authorization_code"]},
     "INVALID_CLIENT_METADATA", "redirect_uris"),
    ({"client_name": "a", "grant_types": ["client_credentials"], "refresh": "1d"}, "INVALID_CLIENT_METADATA",
     "disagree"),
    ({"client_name": "a", "grant_types": ["client_credentials", "refresh_token"], "refresh": "none"},
     "INVALID_CLIENT_METADATA", "disagree"),
    ({"client_name": "a", "grant_types": ["client_credentials"], "refresh": "forever"}, "INVALID_REQUEST", "refresh"),
    ({"client_name": "a", "grant_types": ["client_credentials", "refresh_token"], "refresh": None},
     "INVALID_CLIENT_METADATA", "disagree"),
    ({"client_name": "a", "logo_uri": "https://a.example/l.png"}, "INVALID_REQUEST", "logo_uri"),
])
async def test_rfc7591_refusals_are_clear_400s(client, make_user, body, code, named):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=body, headers=user.headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == code and named in r.json()["message"]
    assert (await client.get("/api/v2/credential", headers=user.headers)).json()["data"] == []


@pytest.mark.parametrize("settings_overrides", [{"default_credential_refresh": "none"}])
async def test_refresh_token_without_a_default_lifetime_needs_refresh(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=RFC, headers=user.headers)
    assert r.status_code == 400 and "send refresh" in r.json()["message"]
    r = await client.post("/api/v2/credential", json={**RFC, "refresh": "12h"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["data"]["refresh"] == "12h"
