"""Refresh tokens of credentials (RFC 6749 §6, RFC 9700 §4.14.2): rotation, reuse revokes the
family (R58), concurrency (F02), many rotations in one second (F14), expiry (R60, R61), tampering
(R63), binding to the client (R56), scope (R59, R65), and revocation of the credential."""

from __future__ import annotations

import asyncio
import random

import jwt
import pytest

IDLE = 3600


@pytest.fixture
def settings_overrides():
    return {"refresh_idle_ttl": IDLE}


async def _cc(client, cred, **extra):
    r = await client.post("/token", data={"grant_type": "client_credentials", **extra}, auth=cred.basic)
    assert r.status_code == 200, r.text
    return r.json()


async def _refresh(client, cred, rt, **extra):
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt, **extra},
                             auth=cred.basic)


def _invalid_grant(r):
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"
    assert r.headers["cache-control"] == "no-store"


async def test_rotation_then_reuse_revokes_the_family(client, make_credential):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    r = await _refresh(client, cred, rt1)
    assert r.status_code == 200
    rt2 = r.json()["refresh_token"]
    assert rt2 != rt1 and r.json()["scope"] == "payments:read payments:write"
    _invalid_grant(await _refresh(client, cred, rt1))
    _invalid_grant(await _refresh(client, cred, rt2))


async def test_many_rotations_in_one_second_then_replays(client, make_credential):
    """F14: generations are tracked by a counter, not by second-resolution iat."""
    cred = await make_credential(refresh="1d")
    tokens = [(await _cc(client, cred))["refresh_token"]]
    for _ in range(5):
        r = await _refresh(client, cred, tokens[-1])
        assert r.status_code == 200
        tokens.append(r.json()["refresh_token"])
    replays = [tokens[1], tokens[2], tokens[4]]
    random.shuffle(replays)
    for rt in replays:
        _invalid_grant(await _refresh(client, cred, rt))
    _invalid_grant(await _refresh(client, cred, tokens[-1]))


async def test_parallel_refreshes_with_one_token_give_exactly_one_success(client, make_credential):
    """F02: one 200, the rest 400 invalid_grant, zero 5xx. Policy (docs/refresh-tokens.md, §8 D1
    strict): the losers are reuse, so the family is revoked and the winner's token dies too."""
    cred = await make_credential(refresh="1d")
    rt = (await _cc(client, cred))["refresh_token"]
    responses = await asyncio.gather(*(_refresh(client, cred, rt) for _ in range(15)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 14, [r.text for r in responses]
    for r in responses:
        if r.status_code == 400:
            assert r.json()["error"] == "invalid_grant"
    winner = next(r for r in responses if r.status_code == 200).json()["refresh_token"]
    _invalid_grant(await _refresh(client, cred, winner))


async def test_absolute_expiry_holds_however_recently_rotated(client, make_credential, clock):
    """R60: the credential's `refresh` (1d) is the family's absolute lifetime."""
    cred = await make_credential(refresh="1d")
    rt = (await _cc(client, cred))["refresh_token"]
    for _ in range(28):  # every 50 minutes, inside the idle window
        clock.advance(3000)
        r = await _refresh(client, cred, rt)
        assert r.status_code == 200, r.text
        rt = r.json()["refresh_token"]
    clock.advance(86400 - 28 * 3000 - 1)  # just before the family's end, rotated recently: still fine
    r = await _refresh(client, cred, rt)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    clock.advance(1)  # exactly the family's end: invalid from exp on (F15)
    _invalid_grant(await _refresh(client, cred, rt))


async def test_idle_expiry(client, make_credential, clock):
    """R61: unused for longer than refresh_idle_ttl."""
    cred = await make_credential(refresh="1d")
    rt = (await _cc(client, cred))["refresh_token"]
    clock.advance(IDLE - 1)
    r = await _refresh(client, cred, rt)
    assert r.status_code == 200
    clock.advance(IDLE)
    _invalid_grant(await _refresh(client, cred, r.json()["refresh_token"]))


async def test_tampered_truncated_or_guessed_tokens_are_invalid_grant(client, make_credential):
    """R63."""
    cred = await make_credential(refresh="1d")
    rt = (await _cc(client, cred))["refresh_token"]
    flipped = rt[:-3] + ("A" if rt[-3] != "A" else "B") + rt[-2:]
    for bad in (flipped, rt[:-1], "ktrt_" + "x" * 43, "garbage", rt + " "):
        _invalid_grant(await _refresh(client, cred, bad))
    assert (await _refresh(client, cred, rt)).status_code == 200  # failures did not burn it


async def test_another_clients_refresh_token_is_invalid_grant_and_not_consumed(client, make_credential):
    """R56."""
    owner_cred, thief = await make_credential(refresh="1d"), await make_credential(refresh="1d")
    rt = (await _cc(client, owner_cred))["refresh_token"]
    _invalid_grant(await _refresh(client, thief, rt))
    assert (await _refresh(client, owner_cred, rt)).status_code == 200


async def test_scope_on_refresh_narrows_never_widens(client, make_credential):
    """R59: less gives a narrower AT; the next refresh without scope returns the full grant."""
    cred = await make_credential(refresh="1d")
    rt = (await _cc(client, cred))["refresh_token"]
    r = await _refresh(client, cred, rt, scope="payments:admin")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = await _refresh(client, cred, rt, scope="payments:read")
    assert r.status_code == 200 and r.json()["scope"] == "payments:read"
    r = await _refresh(client, cred, r.json()["refresh_token"])
    assert r.json()["scope"] == "payments:read payments:write"


async def test_refresh_reevaluates_the_credentials_current_scope(client, make_credential, make_user):
    """R65: a scope removed from the credential is gone from the next access token."""
    owner = await make_user()
    cred = await make_credential(owner, refresh="1d")
    rt = (await _cc(client, cred))["refresh_token"]
    r = await client.put(f"/api/v2/credential/{cred.client_id}", json={"scope": "payments:read"},
                         headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await _refresh(client, cred, rt)
    assert r.status_code == 200 and r.json()["scope"] == "payments:read"


@pytest.mark.parametrize("how", ["delete", "disable"])
async def test_revoked_or_disabled_credential_kills_refresh_and_access_tokens(client, make_credential,
                                                                            make_user, how):
    owner = await make_user()
    cred, observer = await make_credential(owner, refresh="1d"), await make_credential()
    tokens = await _cc(client, cred)
    r = await client.post("/introspect", data={"token": tokens["access_token"]}, auth=observer.basic)
    assert r.json()["active"] is True
    if how == "delete":
        r = await client.delete(f"/api/v2/credential/{cred.client_id}", headers=owner.headers)
    else:
        r = await client.put(f"/api/v2/credential/{cred.client_id}", json={"status": 1}, headers=owner.headers)
    assert r.status_code == 200
    r = await _refresh(client, cred, tokens["refresh_token"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/introspect", data={"token": tokens["access_token"]}, auth=observer.basic)
    assert r.json() == {"active": False}
    if how == "disable":  # re-enabling does not resurrect the revoked family
        await client.put(f"/api/v2/credential/{cred.client_id}", json={"status": 0}, headers=owner.headers)
        _invalid_grant(await _refresh(client, cred, tokens["refresh_token"]))


async def test_revoking_a_refresh_token_kills_the_grant_and_access_token_revocation(client, make_credential):
    """RFC 7009: unknown tokens are a 200; a revoked RT kills its family; a revoked AT is inactive."""
    cred = await make_credential(refresh="1d")
    tokens = await _cc(client, cred)
    assert (await client.post("/revoke", data={"token": "ktrt_unknown"}, auth=cred.basic)).status_code == 200
    r = await client.post("/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                          auth=cred.basic)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    _invalid_grant(await _refresh(client, cred, tokens["refresh_token"]))
    r = await client.post("/introspect", data={"token": tokens["access_token"]}, auth=cred.basic)
    assert r.json() == {"active": False}  # the AT carried the revoked grant's id
    fresh = await _cc(client, cred)
    other = await make_credential()
    r = await client.post("/revoke", data={"token": fresh["access_token"]}, auth=other.basic)
    assert r.status_code == 400  # not the caller's token
    assert (await client.post("/revoke", data={"token": fresh["access_token"]}, auth=cred.basic)).status_code == 200
    r = await client.post("/introspect", data={"token": fresh["access_token"]}, auth=cred.basic)
    assert r.json() == {"active": False}


async def test_introspection_of_access_and_refresh_tokens(client, make_credential, clock):
    cred = await make_credential(refresh="1d")
    tokens = await _cc(client, cred)
    r = await client.post("/introspect", data={"token": tokens["access_token"]}, auth=cred.basic)
    body = r.json()
    assert body["active"] is True and body["client_id"] == cred.client_id and body["token_type"] == "Bearer"
    assert r.headers["cache-control"] == "no-store"
    r = await client.post("/introspect", data={"token": tokens["refresh_token"]}, auth=cred.basic)
    assert r.json()["active"] is True and r.json()["token_type"] == "refresh_token"
    other = await make_credential()
    r = await client.post("/introspect", data={"token": tokens["refresh_token"]}, auth=other.basic)
    assert r.json() == {"active": False}
    r = await client.post("/introspect", data={"token": "x.y.z"}, auth=cred.basic)
    assert r.json() == {"active": False}
    r = await client.post("/introspect", data={}, auth=cred.basic)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await client.post("/introspect", data={"token": tokens["access_token"]})
    assert r.status_code == 401
    exp = jwt.decode(tokens["access_token"], options={"verify_signature": False})["exp"]
    clock.now = exp - 0.001
    assert (await client.post("/introspect", data={"token": tokens["access_token"]},
                              auth=cred.basic)).json()["active"] is True
    clock.now = exp  # at exp: inactive (F15)
    assert (await client.post("/introspect", data={"token": tokens["access_token"]},
                              auth=cred.basic)).json() == {"active": False}
