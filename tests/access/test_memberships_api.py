"""GET /api/account-memberships and the one authentication layer (seed 001 "Authenticating API Calls")."""

from __future__ import annotations

from keyturn.core.secrets import new_api_key
from keyturn.services import api_keys as api_keys_service


async def test_api_key_sees_its_one_binding(client, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner, name="Test Merchant")
    key = await make_key(org["id"], "merchant-terminal")
    r = await client.get("/api/account-memberships", headers={"X-Api-Key": key})
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "accountId": org["id"],
            "accountName": "Test Merchant",
            "accountType": "org",
            "role": "merchant-terminal",
        }
    ]
    assert r.headers["cache-control"] == "no-store"


async def test_a_bare_access_token_and_a_bearer_token_both_work(client, make_user, make_org):
    user = await make_user()
    org = await make_org(user, name="Org")
    for value in (user.token, f"Bearer {user.token}", f"bearer {user.token}"):
        r = await client.get("/api/account-memberships", headers={"Authorization": value})
        assert r.status_code == 200, r.text
        assert r.json() == [
            {
                "accountId": user.account_id,
                "accountName": user.email,
                "accountType": "individual",
                "role": "account-owner",
            },
            {"accountId": org["id"], "accountName": "Org", "accountType": "org", "role": "account-owner"},
        ]


async def test_a_credential_token_sees_its_binding(client, make_credential, make_user):
    owner = await make_user()
    cred = await make_credential(owner)
    tok = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    r = await client.get("/api/account-memberships", headers={"Authorization": tok["access_token"]})
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "accountId": owner.account_id,
            "accountName": owner.email,
            "accountType": "individual",
            "role": "merchant-terminal",
        }
    ]


async def test_both_headers_are_refused_as_ambiguous(client, make_user, make_org, make_key):
    user = await make_user()
    key = await make_key((await make_org(user))["id"])
    r = await client.get("/api/account-memberships", headers={"X-Api-Key": key, "Authorization": user.token})
    assert r.status_code == 400
    assert r.json() == {
        "status": "ERROR",
        "error": "AMBIGUOUS_CREDENTIALS",
        "message": "send one credential: X-Api-Key or Authorization, once",
    }


async def test_missing_credentials_are_401_with_a_bearer_challenge(client):
    r = await client.get("/api/account-memberships")
    assert r.status_code == 401
    # RFC 6750 §3.1: no error code when the request carries no credentials (issue 9.12).
    assert r.headers["www-authenticate"] == 'Bearer realm="keyturn"'
    assert r.json()["error"] == "UNAUTHORIZED"


async def _assert_invalid_token(r):
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert r.json()["error"] == "UNAUTHORIZED"
    return r.json()["message"]


async def test_unknown_disabled_and_noise_keys_get_the_same_401(client, ctx, make_user, make_org, make_key):
    user = await make_user()
    org = await make_org(user)
    key = await make_key(org["id"], name="till-1")
    await api_keys_service.set_enabled(ctx, None, org["id"], "till-1", False)
    messages = set()
    for value in (key, new_api_key(), "f32c5497297084e5354b47c40d5ccacb109ce483", key[:-1] + "x", "x" * 5000):
        r = await client.get("/api/account-memberships", headers={"X-Api-Key": value})
        messages.add(await _assert_invalid_token(r))
    assert messages == {"The API key is invalid or disabled"}


async def test_malformed_expired_and_garbage_tokens_are_401(client, make_user, clock):
    user = await make_user()
    for value in ("Bearer", "Bearer a b", "not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.e30."):
        await _assert_invalid_token(
            await client.get("/api/account-memberships", headers={"Authorization": value})
        )
    clock.advance(3601)
    await _assert_invalid_token(
        await client.get("/api/account-memberships", headers={"Authorization": user.token})
    )


async def test_a_key_bound_account_cannot_be_switched_by_header(client, make_user, make_org, make_key):
    user = await make_user()
    key = await make_key((await make_org(user))["id"])
    r = await client.get("/api/account-memberships", headers={"X-Api-Key": key, "X-Keyturn-Account": "other"})
    assert r.status_code == 400 and r.json()["error"] == "ACCOUNT_MISMATCH"


async def test_a_user_reads_their_own_memberships_by_id_only(client, make_user):
    a, b = await make_user(), await make_user()
    r = await client.get(f"/api/users/{a.id}/account-memberships", headers=a.headers)
    assert r.status_code == 200 and r.json()[0]["accountId"] == a.account_id
    assert (await client.get("/api/users/me/account-memberships", headers=a.headers)).status_code == 200
    r = await client.get(f"/api/users/{b.id}/account-memberships", headers=a.headers)
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"


async def test_last_used_is_recorded_off_the_request_path(client, ctx, make_user, make_org, make_key, clock):
    user = await make_user()
    org = await make_org(user)
    key = await make_key(org["id"], name="till")
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": key})).status_code == 200
    listed = await api_keys_service.list_keys(ctx, None, org["id"])
    assert listed[0].last_used_at is None  # not written by the request itself
    assert await ctx.api_key_usage.flush() == 1
    listed = await api_keys_service.list_keys(ctx, None, org["id"])
    assert listed[0].last_used_at is not None
