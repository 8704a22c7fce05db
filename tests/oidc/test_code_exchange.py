"""Authorization codes and user tokens (REQUIREMENTS 2.B R25–R27, 2.C, 2.F, 2.G R75)."""

from __future__ import annotations

import asyncio

import jwt

from keyturn.core import jose
from tests.oidc.helpers import REDIRECT, authorize_code, exchange, make_client


async def _tokens(client, ctx, user, **kw):
    rp = await make_client(ctx, **kw)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, scope="openid email phone profile")
    r = await exchange(client, rp["client_id"], code, verifier)
    assert r.status_code == 200, r.text
    return rp, r.json()


async def test_id_token_claims_by_scope_and_signature(client, ctx, make_user):
    user = await make_user(phone_number="+6421234567890", given_name="Ana", family_name="Pay",
                           preferred_username="ana", email_verified=True)
    rp, body = await _tokens(client, ctx, user)
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    claims = jose.verify(body["id_token"], ctx.keys.verification_keys,
                         jose.Expect(issuer="http://keyturn.test", typ="jwt", audience=rp["client_id"]), ctx.clock())
    assert claims["sub"] == user.id and claims["aud"] == rp["client_id"] and claims["nonce"] == "n-1"
    assert claims["at_hash"] == jose.half_hash(body["access_token"], "RS256") and claims["auth_time"]
    for name in ("email", "email_verified", "phone_number", "phone_number_verified", "given_name",
                 "family_name", "preferred_username"):
        assert name in claims
    assert body["expires_in"] == 3600 and body["refresh_token"].startswith("ktrt_")


async def test_openid_scope_alone_carries_sub_and_an_identifier(client, ctx, make_user):
    user = await make_user(phone_number="+6421234567891")
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    body = (await exchange(client, rp["client_id"], code, verifier)).json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["sub"] == user.id and claims["phone_number"] == "+6421234567891" and "given_name" not in claims


async def test_es256_client(client, ctx, make_user):
    user = await make_user()
    _, body = await _tokens(client, ctx, user, id_token_alg="ES256")
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "ES256"


async def test_no_refresh_token_when_the_client_turned_them_off(client, ctx, make_user):
    user = await make_user()
    _, body = await _tokens(client, ctx, user, refresh_tokens=False)
    assert "refresh_token" not in body


async def test_pkce_verifier_rules(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    for bad, error in (("a" * 42, "invalid_request"), ("a" * 129, "invalid_request"), ("*" * 43, "invalid_request")):
        r = await exchange(client, rp["client_id"], code, bad)
        assert r.status_code == 400 and r.json()["error"] == error
    r = await exchange(client, rp["client_id"], code, None)
    assert r.json()["error"] == "invalid_grant"
    r = await exchange(client, rp["client_id"], code, "b" * 43)
    assert r.json()["error"] == "invalid_grant"
    # R32: the failed attempts did not burn the code.
    r = await exchange(client, rp["client_id"], code, verifier)
    assert r.status_code == 200


async def test_code_bound_to_client_and_redirect_uri(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, redirect_uris=[REDIRECT, "https://app.example.test/other"])
    other = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    r = await exchange(client, other["client_id"], code, verifier)
    assert r.json()["error"] == "invalid_grant"
    r = await exchange(client, rp["client_id"], code, verifier, redirect_uri="https://app.example.test/other")
    assert r.json()["error"] == "invalid_grant"
    assert (await exchange(client, rp["client_id"], code, verifier)).status_code == 200


async def test_expired_code(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    clock.advance(ctx.settings.code_ttl + ctx.settings.clock_leeway)  # expired from expires_at + the leeway on
    r = await exchange(client, rp["client_id"], code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_replayed_code_fails_and_revokes_the_tokens_issued_from_it(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    first = (await exchange(client, rp["client_id"], code, verifier)).json()
    again = await exchange(client, rp["client_id"], code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    r = await client.post("/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                          "refresh_token": first["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"
    r = await client.get("/userinfo", headers={"Authorization": "Bearer " + first["access_token"]})
    assert r.status_code == 401


async def test_parallel_redemptions_give_exactly_one_success(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    results = await asyncio.gather(*[exchange(client, rp["client_id"], code, verifier) for _ in range(8)])
    assert sorted(r.status_code for r in results) == [200] + [400] * 7


async def test_refresh_rotation_reuse_and_id_token_on_refresh(client, ctx, make_user):
    user = await make_user()
    rp, body = await _tokens(client, ctx, user)
    data = {"grant_type": "refresh_token", "client_id": rp["client_id"], "refresh_token": body["refresh_token"]}
    r1 = await client.post("/token", data=data)
    assert r1.status_code == 200
    new = r1.json()
    old_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    new_claims = jwt.decode(new["id_token"], options={"verify_signature": False})
    assert new_claims["sub"] == old_claims["sub"] and new_claims["auth_time"] == old_claims["auth_time"]
    assert "nonce" not in new_claims
    assert (await client.post("/token", data=data)).json()["error"] == "invalid_grant"
    r3 = await client.post("/token", data={**data, "refresh_token": new["refresh_token"]})
    assert r3.json()["error"] == "invalid_grant"  # the family is revoked


async def test_refresh_refused_for_disabled_user_and_after_60_days(client, ctx, make_user, clock):
    from sqlalchemy import update

    from keyturn.storage.tables import users
    user = await make_user()
    rp, body = await _tokens(client, ctx, user)
    data = {"grant_type": "refresh_token", "client_id": rp["client_id"]}
    clock.advance(29 * 86400)
    r = await client.post("/token", data={**data, "refresh_token": body["refresh_token"]})
    assert r.status_code == 200
    token = r.json()["refresh_token"]
    clock.advance(29 * 86400)
    token = (await client.post("/token", data={**data, "refresh_token": token})).json()["refresh_token"]
    clock.advance(2 * 86400 + 1)
    r = await client.post("/token", data={**data, "refresh_token": token})
    assert r.json()["error"] == "invalid_grant"  # 60 days absolute
    user2 = await make_user()
    rp2, body2 = await _tokens(client, ctx, user2)
    async with ctx.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user2.id).values(disabled=True))
    r = await client.post("/token", data={"grant_type": "refresh_token", "client_id": rp2["client_id"],
                                          "refresh_token": body2["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"


async def test_revoke_refresh_token_at_revoke_endpoint(client, ctx, make_user):
    user = await make_user()
    rp, body = await _tokens(client, ctx, user)
    r = await client.post("/revoke", data={"token": body["refresh_token"], "client_id": rp["client_id"]})
    assert r.status_code == 200
    r = await client.post("/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                          "refresh_token": body["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"


async def test_confidential_client_needs_its_secret(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, public=False)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    r = await exchange(client, rp["client_id"], code, verifier)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await exchange(client, rp["client_id"], code, verifier, client_secret=rp["client_secret"])
    assert r.status_code == 200
