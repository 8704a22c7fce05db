"""Seed 000's credentials with a key pair (private_key_jwt, RFC 7523): created so (``jwks`` or ``jwks_uri``) or
upgraded from a secret by ``PUT /api/v2/credential/{id}`` (the secret is dropped), then client_credentials at
``POST /api/v2/access/token`` (JSON and form) and ``/token`` with a client assertion; a secret is refused. A
``jwks_uri`` is fetched from a real https server (tests/jwks_server.py): cached, refetched on a new ``kid``
within the cooldown, one fetch for concurrent requests, and ``invalid_client`` (never a 500) when it fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.assertion_keys import ASSERTION_TYPE, KeyPair, form
from tests.flows.test_credential_rfc7591 import SEED, SEED_FIELDS
from tests.jwks_server import JwksServer

CC = {"grant_type": "client_credentials"}


@pytest.fixture
def settings_overrides(jwks_server: JwksServer) -> dict[str, Any]:
    return {"jwks_uri_allowed_hosts": (jwks_server.host,), "outbound_ca_file": jwks_server.ca_file}


def _assertion_json(cid: str, key: KeyPair, **claims: Any) -> dict[str, str]:
    return {**CC, "client_id": cid, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": key.assertion(cid, **claims)}


async def test_created_with_jwks(client, make_user):
    user = await make_user()
    key = KeyPair("ES256", kid="c1")
    r = await client.post("/api/v2/credential", headers=user.headers, json={
        **SEED, "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks})
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["password"] is None and "client_secret" not in d
    assert d["token_endpoint_auth_method"] == "private_key_jwt" and d["jwks"] == key.jwks
    cid = d["username"]
    # seed 000's token endpoint, JSON and form, and /token
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, key))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer" and r.json()["access_token"]
    r = await client.post("/api/v2/access/token", data=_assertion_json(cid, key))
    assert r.status_code == 200, r.text
    r = await client.post("/token", data={**CC, **form(None, key.assertion(cid))})
    assert r.status_code == 200, r.text
    # a secret is refused (it has none), as is another key
    r = await client.post("/api/v2/access/token", json={**CC, "client_id": cid, "client_secret": "x" * 32})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    other = KeyPair("ES256", kid="c1")
    r = await client.post("/token", data={**CC, **form(cid, other.assertion(cid))})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # nothing to rotate
    r = await client.post(f"/api/v2/credential/{cid}/rotate", headers=user.headers)
    assert r.status_code == 400 and "private_key_jwt" in r.json()["message"]
    # a read keeps the seed's shape
    r = await client.get(f"/api/v2/credential/{cid}", headers=user.headers)
    assert set(r.json()["data"]) == SEED_FIELDS and r.json()["data"]["password"] is None


async def test_upgraded_from_a_secret(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=SEED, headers=user.headers)
    seed = r.json()["data"]
    cid, secret = seed["username"], seed["password"]
    r = await client.post("/api/v2/access/token", json={**CC, "client_id": cid, "client_secret": secret})
    assert r.status_code == 200, r.text
    # a seed-style update keeps the seed's exact answer
    r = await client.put(f"/api/v2/credential/{cid}", json={"name": "renamed"}, headers=user.headers)
    assert r.status_code == 200 and set(r.json()["data"]) == SEED_FIELDS
    # half an upgrade is refused
    for body, says in [({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
                       ({"jwks": KeyPair().jwks}, "private_key_jwt"),
                       ({"token_endpoint_auth_method": "client_secret_post"}, "only to private_key_jwt")]:
        r = await client.put(f"/api/v2/credential/{cid}", json=body, headers=user.headers)
        assert r.status_code == 400 and says in r.json()["message"], r.text
    key = KeyPair("EdDSA", kid="up")
    r = await client.put(f"/api/v2/credential/{cid}", headers=user.headers, json={
        "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks})
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["token_endpoint_auth_method"] == "private_key_jwt" and d["password"] is None and d["jwks"] == key.jwks
    assert d["name"] == "renamed"
    # the secret no longer works; the key does
    r = await client.post("/api/v2/access/token", json={**CC, "client_id": cid, "client_secret": secret})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, key))
    assert r.status_code == 200, r.text
    # new keys replace the old ones; no way back to a secret
    newer = KeyPair("ES256", kid="newer")
    r = await client.patch(f"/api/v2/credential/{cid}", json={"jwks": newer.jwks}, headers=user.headers)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, key))
    assert r.status_code == 401
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, newer))
    assert r.status_code == 200, r.text
    r = await client.put(f"/api/v2/credential/{cid}", headers=user.headers,
                         json={"token_endpoint_auth_method": "client_secret_basic"})
    assert r.status_code == 400


async def test_refusals_at_creation(client, make_user, jwks_server):
    user = await make_user()
    key = KeyPair()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"jwks": key.jwks}, "private_key_jwt"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks, "jwks_uri": jwks_server.url()},
         "not both"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://evil.example/jwks"}, "not allowed"),
        ({"token_endpoint_auth_method": "private_key_jwt",
          "jwks_uri": jwks_server.url().replace("https", "http")}, "https"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [dict(key.jwk, d="AAAA")]}}, "public"),
    ]
    for body, named in cases:
        r = await client.post("/api/v2/credential", json={**SEED, **body}, headers=user.headers)
        assert r.status_code == 400 and r.json()["error"] == "INVALID_CLIENT_METADATA", r.text
        assert named in r.json()["message"], r.text


async def test_jwks_uri_cache_rotation_and_failure(client, ctx, make_user, jwks_server):
    user = await make_user()
    old, new = KeyPair("ES256", kid="old"), KeyPair("PS256", kid="new")
    jwks_server.jwks = old.jwks
    r = await client.post("/api/v2/credential", headers=user.headers, json={
        **SEED, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server.url()})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["jwks_uri"] == jwks_server.url() and r.json()["data"]["password"] is None
    cid = r.json()["data"]["username"]
    assert jwks_server.hits["/jwks"] == 0  # fetched when used, not at registration
    for _ in range(3):
        r = await client.post("/api/v2/access/token", json=_assertion_json(cid, old))
        assert r.status_code == 200, r.text
    assert jwks_server.hits["/jwks"] == 1  # cached
    # the client rotates: its next assertion names a kid the cached set lacks (first fetch < cooldown ago)
    jwks_server.jwks = {"keys": [old.jwk, new.jwk]}
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, new))
    assert r.status_code == 401 and jwks_server.hits["/jwks"] == 1  # within the cooldown: not fetched
    entry = ctx.client_jwks._entries[jwks_server.url()]
    entry.last_attempt -= 61  # the cooldown has passed
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, new))
    assert r.status_code == 200, r.text
    assert jwks_server.hits["/jwks"] == 2
    # junk kids: refused, and at most one fetch per cooldown
    junk = KeyPair("ES256", kid="junk")
    for _ in range(3):
        r = await client.post("/api/v2/access/token", json=_assertion_json(cid, junk))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert jwks_server.hits["/jwks"] == 2
    # the server fails, the set expires: the old set serves (stale-if-error)
    jwks_server.status = 503
    entry.expires_at -= 400
    entry.last_attempt -= 400
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, new))
    assert r.status_code == 200, r.text
    assert jwks_server.hits["/jwks"] == 3
    # too stale: invalid_client, never a 500
    entry.expires_at -= 4000
    entry.last_attempt -= 4000
    r = await client.post("/api/v2/access/token", json=_assertion_json(cid, new))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_jwks_uri_single_flight(client, make_user, jwks_server):
    user = await make_user()
    key = KeyPair("ES256", kid="sf")
    jwks_server.jwks = key.jwks
    jwks_server.delay = 0.3
    r = await client.post("/api/v2/credential", headers=user.headers, json={
        **SEED, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server.url()})
    cid = r.json()["data"]["username"]
    answers = await asyncio.gather(*(client.post("/token", data=_assertion_json(cid, key)) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert jwks_server.hits["/jwks"] == 1


async def test_jwks_uri_unreachable_is_invalid_client(client, make_user, jwks_server):
    user = await make_user()
    key = KeyPair("ES256", kid="x")
    for path in ("/redirect", "/text", "/big"):
        jwks_server.jwks = key.jwks
        r = await client.post("/api/v2/credential", headers=user.headers, json={
            **SEED, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server.url(path)})
        assert r.status_code == 200, r.text
        cid = r.json()["data"]["username"]
        r = await client.post("/token", data=_assertion_json(cid, key))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", (path, r.text)
    assert jwks_server.hits["/jwks"] == 0  # the redirect was not followed


@pytest.mark.parametrize("settings_overrides", [{"registration": "initial_token"}])
async def test_no_allow_list_no_jwks_uri(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", headers=user.headers, json={
        **SEED, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://keys.example/jwks"})
    assert r.status_code == 400 and "jwks_uri" in r.json()["message"]


async def test_a_tls_client_auth_credential_keeps_its_method(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", headers=user.headers, json={
        **SEED, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=m2m,O=Shop"})
    assert r.status_code == 200, r.text
    cid = r.json()["data"]["username"]
    r = await client.put(f"/api/v2/credential/{cid}", headers=user.headers, json={
        "token_endpoint_auth_method": "private_key_jwt", "jwks": KeyPair().jwks})
    assert r.status_code == 400 and "tls_client_auth" in r.json()["message"], r.text
