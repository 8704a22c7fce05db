"""Seed 000 §1.3.1 credential API: shape, bad input (nothing half-created), owner only, rotation
with overlap (R52), bearer errors (RFC 6750 §3.1); and the credential's `domain` at the token endpoint."""

from __future__ import annotations

import jwt

SEED = {"name": "my.app.cu", "domain": ".*tropipay.com.* www.my.app.cu *.localhost.*",
        "scope": "ALLOW_EXTERNAL_CHARGE ALLOW_OTA_CHARGE"}
FIELDS = {"name", "domain", "ownerId", "prefix", "refresh", "type", "status", "username", "password", "public",
          "groupId", "updatedAt", "createdAt", "expiration", "redirect"}


async def _list(client, user):
    r = await client.get("/api/v2/credential", headers=user.headers)
    assert r.status_code == 200
    return r.json()["data"]


async def test_create_answers_in_the_seeds_shape_and_the_secret_only_once(client, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=SEED, headers=user.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "OK" and FIELDS <= set(body["data"])
    d = body["data"]
    assert d["name"] == SEED["name"] and d["domain"] == SEED["domain"] and d["ownerId"] == user.id
    assert d["prefix"] == "Bearer" and d["refresh"] == "1d" and d["type"] == 1 and d["status"] == 0
    assert len(d["username"]) == 32 and len(d["password"]) >= 22  # R52: ≥128 bits
    assert d["createdAt"].endswith("Z")
    secret = d["password"]
    for r in (await client.get(f"/api/v2/credential/{d['username']}", headers=user.headers),
              await client.get("/api/v2/credential", headers=user.headers)):
        assert r.status_code == 200 and secret not in r.text
    assert d["username"] in r.text


async def test_bad_input_is_a_clear_400_and_nothing_is_created(client, ctx, make_user):
    user = await make_user()
    bad = [{}, {"name": ""}, {"name": 5}, {"name": "x", "scope": 'a"b'}, {"name": "x", "scope": "a\\b"},
           {"name": "x", "domain": "*"}, {"name": "x", "domain": "*.com"}, {"name": "x", "domain": "*example.com"},
           {"name": "x", "domain": "https://a.example/path"}, {"name": "x", "refresh": "forever"},
           {"name": "x", "unknown": 1}, {"name": "x" * 500}]
    for body in bad:
        r = await client.post("/api/v2/credential", json=body, headers=user.headers)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["status"] == "ERROR" and r.json()["error"] and r.json()["message"]
    for raw, ctype in ((b"{not json", "application/json"), (b"name=x", "application/x-www-form-urlencoded")):
        r = await client.post("/api/v2/credential", content=raw, headers={**user.headers, "content-type": ctype})
        assert 400 <= r.status_code < 500
    assert await _list(client, user) == []


async def test_missing_invalid_or_expired_user_token_is_401_with_bearer_challenge(client, clock, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json=SEED)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    for header in ("Bearer not-a-jwt", "Bearer " + user.token[:-4] + "AAAA", "Basic abc"):
        r = await client.post("/api/v2/credential", json=SEED, headers={"Authorization": header})
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    clock.advance(3601)
    r = await client.post("/api/v2/credential", json=SEED, headers=user.headers)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_only_the_owner_sees_or_changes_a_credential(client, make_user, make_credential):
    owner, other = await make_user(), await make_user()
    cred = await make_credential(owner)
    path = f"/api/v2/credential/{cred.client_id}"
    for method, kw in (("GET", {}), ("PUT", {"json": {"name": "x"}}), ("POST", {}), ("DELETE", {})):
        url = path + "/rotate" if method == "POST" else path
        r = await client.request(method, url, headers=other.headers, **kw)
        assert r.status_code == 404, (method, r.text)
    assert await _list(client, other) == []
    for weird in ("%00", "x" * 100, "%C3%BC"):
        assert (await client.get(f"/api/v2/credential/{weird}", headers=owner.headers)).status_code == 404


async def test_update_and_delete(client, make_user, make_credential):
    owner = await make_user()
    cred = await make_credential(owner)
    path = f"/api/v2/credential/{cred.client_id}"
    r = await client.put(path, json={"name": "renamed", "domain": "*.merchant.example", "scope": "payments:read"},
                         headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["name"] == "renamed"
    for body in ({"status": 7}, {"name": ""}, {"domain": "*"}, {"scope": 'x"'}, {"password": "x"}):
        assert (await client.put(path, json=body, headers=owner.headers)).status_code == 400
    d = (await client.get(path, headers=owner.headers)).json()["data"]
    assert (d["name"], d["domain"], d["scope"]) == ("renamed", "*.merchant.example", "payments:read")
    assert (await client.delete(path, headers=owner.headers)).status_code == 200
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 401


async def test_rotate_secret_with_overlap(client, clock, ctx, make_user, make_credential):
    """R52: old and new both work during the overlap, only the new one afterwards."""
    owner = await make_user()
    cred = await make_credential(owner)
    r = await client.post(f"/api/v2/credential/{cred.client_id}/rotate", headers=owner.headers)
    assert r.status_code == 200
    new = r.json()["data"]["password"]
    assert new != cred.client_secret
    for secret in (cred.client_secret, new):
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, secret))
        assert r.status_code == 200
    clock.advance(ctx.settings.secret_rotation_overlap + 1)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 401
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, new))
    assert r.status_code == 200


async def test_domain_patterns_at_the_token_endpoint(client, make_credential):
    """The seed's patterns; a refused Origin gets no CORS headers; an allowed one gets ACAO + Vary."""
    cred = await make_credential(domain=SEED["domain"])
    allowed = ["https://www.tropipay.com", "https://tropipay.com", "https://api.tropipay.com:8443",
               "https://www.my.app.cu", "http://localhost:3000", "http://shop.localhost:5173"]
    refused = ["https://evil.test", "https://tropipay.com.evil.test", "https://eviltropipay.com",
               "https://my.app.cu", "http://www.my.app.cu", "null", "https://www.my.app.cu.evil.test"]
    for origin in allowed:
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                              headers={"Origin": origin})
        assert r.status_code == 200, (origin, r.text)
        assert r.headers["access-control-allow-origin"] == origin and "Origin" in r.headers["vary"]
    for origin in refused:
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                              headers={"Origin": origin})
        assert r.status_code == 400 and r.json()["error"] == "unauthorized_client", origin
        assert "access-control-allow-origin" not in r.headers
    r = await client.options("/token", headers={"Origin": "https://www.tropipay.com",
                                                "Access-Control-Request-Method": "POST"})
    assert r.headers["access-control-allow-origin"] == "https://www.tropipay.com"
    r = await client.options("/token", headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


async def test_jwks_publishes_public_keys_only_and_rotation_keeps_old_ones(client, ctx, clock, make_credential):
    """R71, R72: public members, unique kids, use=sig, alg; old tokens keep verifying after rotation."""
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"] and "no-store" not in r.headers[
        "cache-control"]
    keys = r.json()["keys"]
    assert len({k["kid"] for k in keys}) == len(keys)
    for k in keys:
        assert k["use"] == "sig" and k["alg"] in ("ES256", "RS256", "EdDSA")
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(k)
    cred = await make_credential()
    old = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    new_kid = await ctx.keys.rotate("ES256", clock())
    new = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    assert jwt.get_unverified_header(new["access_token"])["kid"] == new_kid
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    r = await client.post("/introspect", data={"token": old["access_token"]}, auth=cred.basic)
    assert r.json()["active"] is True
    clock.advance(3600 + 301)  # every token of the old key has expired: it leaves the JWKS
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid not in kids and new_kid in kids
