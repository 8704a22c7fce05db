"""API keys over HTTP: create (shown once), list, enable/disable, delete; never stronger than the caller."""

from __future__ import annotations

from sqlalchemy import select

from keyturn.core.secrets import digest, looks_like_api_key
from keyturn.storage.tables import api_keys


async def test_create_list_disable_enable_delete(client, ctx, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/api-keys"
    r = await client.post(url, json={"name": "till-1", "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("kt_live_") and looks_like_api_key(secret)
    assert created["role"] == "merchant-terminal" and created["enabled"] is True
    assert created["createdBy"] == f"user:{owner.id}"
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == created["id"]))).mappings().one()
    assert row["digest"] == digest(secret) and secret not in str(dict(row))

    listed = (await client.get(url, headers=owner.headers)).json()
    assert [k["name"] for k in listed] == ["till-1"] and "secret" not in listed[0]
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": secret})).status_code == 200

    r = await client.put(f"{url}/till-1", json={"enabled": False}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": secret})).status_code == 401
    r = await client.put(f"{url}/till-1", json={"enabled": True}, headers=owner.headers)
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": secret})).status_code == 200

    assert (await client.delete(f"{url}/till-1", headers=owner.headers)).status_code == 204
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": secret})).status_code == 401
    assert (await client.delete(f"{url}/till-1", headers=owner.headers)).status_code == 404


async def test_a_test_account_mints_test_keys(client, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner, test=True)
    r = await client.post(
        f"/api/accounts/{org['id']}/api-keys",
        json={"name": "t", "role": "merchant-terminal"},
        headers=owner.headers,
    )
    assert r.json()["secret"].startswith("kt_test_")


async def test_bad_input_gets_the_documented_errors_and_nothing_is_written(client, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/api-keys"
    cases = [
        ({"name": "k", "role": "root"}, 400, "INVALID_ROLE"),
        ({"name": "", "role": "merchant-terminal"}, 400, "INVALID_REQUEST"),
        ({"name": "k"}, 400, "INVALID_REQUEST"),
        ({"name": "k", "role": "merchant-terminal", "accountId": "x"}, 400, "INVALID_REQUEST"),
        ({"name": "k", "role": "merchant-terminal", "enabled": False, "id": "mine"}, 400, "INVALID_REQUEST"),
        ({"name": 5, "role": "merchant-terminal"}, 400, "INVALID_REQUEST"),
    ]
    for body, status, code in cases:
        r = await client.post(url, json=body, headers=owner.headers)
        assert (r.status_code, r.json()["error"]) == (status, code), (body, r.text)
    assert (await client.get(url, headers=owner.headers)).json() == []
    await client.post(url, json={"name": "dup", "role": "merchant-terminal"}, headers=owner.headers)
    r = await client.post(url, json={"name": "dup", "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"] == "CONFLICT"
    assert len((await client.get(url, headers=owner.headers)).json()) == 1


async def test_nobody_mints_a_key_stronger_than_themselves(client, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/api-keys"
    terminal = await make_key(org["id"], "merchant-terminal")
    r = await client.post(url, json={"name": "x", "role": "account-owner"}, headers={"X-Api-Key": terminal})
    assert r.status_code == 403 and r.json() == {
        "status": "ERROR",
        "error": "PERMISSION_DENIED",
        "message": "missing permission api-keys:create",
    }
    # An owner-role key can mint keys, but a token narrowed by scope cannot assign beyond its scope.
    owner_key = await make_key(org["id"], "account-owner")
    r = await client.post(
        url, json={"name": "y", "role": "merchant-terminal"}, headers={"X-Api-Key": owner_key}
    )
    assert r.status_code == 201, r.text
    member = await make_user()
    await client.post(
        f"/api/accounts/{org['id']}/members",
        json={"user": member.email, "role": "anon-consumer"},
        headers=owner.headers,
    )
    r = await client.post(url, json={"name": "z", "role": "merchant-terminal"}, headers=member.headers)
    assert r.status_code == 403 and "api-keys:create" in r.json()["message"]


async def test_account_a_key_cannot_touch_account_b(client, make_user, make_org, make_key):
    """BOLA (R98): every object route with A's credentials against B's ids is 404."""
    a, b = await make_user(), await make_user()
    org_a, org_b = await make_org(a), await make_org(b)
    await make_key(org_b["id"], name="b-key")
    key_a = await make_key(org_a["id"], "account-owner")
    h = {"X-Api-Key": key_a}
    B = f"/api/accounts/{org_b['id']}"
    calls = [
        ("GET", B, None),
        ("PUT", B, {"name": "pwned"}),
        ("GET", f"{B}/members", None),
        ("POST", f"{B}/members", {"user": a.email, "role": "account-owner"}),
        ("DELETE", f"{B}/members/{b.id}", None),
        ("GET", f"{B}/api-keys", None),
        ("POST", f"{B}/api-keys", {"name": "n", "role": "merchant-terminal"}),
        ("PUT", f"{B}/api-keys/b-key", {"enabled": False}),
        ("DELETE", f"{B}/api-keys/b-key", None),
    ]
    for method, url, body in calls:
        for headers in (h, a.headers):
            r = await client.request(method, url, json=body, headers=headers)
            assert r.status_code == 404, (method, url, r.text)
            assert r.json()["error"] == "NOT_FOUND"
    r = await client.get(f"{B}/api-keys", headers=b.headers)
    assert r.json()[0]["enabled"] is True
