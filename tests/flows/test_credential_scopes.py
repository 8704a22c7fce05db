"""Issue 9 items 3, 4, 15: a self-service credential carries only scopes its creator may grant (the
catalogue), an update never silently widens (partial, null refused), and creation is rate limited per user."""

from __future__ import annotations

import jwt
import pytest

from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.flows.test_credential_api import _list

CATALOGUE_PATHS = ("/api/v2/credential/grant/list", "/api/v2/credential/scopes")


@pytest.fixture
def settings_overrides():
    # The operator adds two scopes, lists a reserved one and a permission name (neither becomes grantable
    # through this list), and allows three creations per user per hour.
    return {"allowed_scopes": ("payments:read", "payments:write", "keyturn:admin", "wallets:read"),
            "credential_create_limit": 3}


async def test_reserved_unknown_and_unheld_scopes_are_invalid_scope_and_nothing_is_stored(client, make_user):
    user = await make_user()
    for scope, named in [("keyturn:admin", ["keyturn:admin"]), ("platform:admin", ["platform:admin"]),
                         ("wallets:*", ["wallets:*"]), ("ALLOW_OTA_CHARGE keyturn:x nope", ["keyturn:x", "nope"]),
                         # payment-requests:create is merchant-terminal's, but the owner does not hold it
                         ("payment-requests:create", ["payment-requests:create"])]:
        r = await client.post("/api/v2/credential", json={"name": "x", "scope": scope}, headers=user.headers)
        assert r.status_code == 400, (scope, r.text)
        body = r.json()
        assert body["status"] == "ERROR" and body["error"] == "INVALID_SCOPE"
        assert all(n in body["message"] for n in named), body
    assert await _list(client, user) == []


async def test_a_credential_gets_catalogue_scopes_and_its_tokens_carry_them(client, make_user):
    user = await make_user()
    scope = "ALLOW_EXTERNAL_CHARGE BLOCKED_MONEY_OUT ALLOW_OTA_CHARGE payments:read payment-requests:read"
    r = await client.post("/api/v2/credential", json={"name": "ok", "scope": scope}, headers=user.headers)
    assert r.status_code == 200, r.text
    cred = r.json()["data"]
    r = await client.post("/token", data={"grant_type": "client_credentials"},
                          auth=(cred["username"], cred["password"]))
    assert r.status_code == 200
    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["scope"] == scope


async def test_the_catalogue_lists_capabilities_held_permissions_and_operator_scopes(client, make_user):
    user = await make_user()
    for path in CATALOGUE_PATHS:
        r = await client.get(path, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["status"] == "OK"
        by_name = {s["name"]: s for s in body["data"]}
        assert {s["source"] for s in body["data"]} == {"capability", "permission", "operator"}
        for cap in ("ALLOW_EXTERNAL_CHARGE", "BLOCKED_MONEY_OUT", "ALLOW_OTA_CHARGE"):
            assert by_name[cap]["source"] == "capability" and by_name[cap]["description"]
        assert by_name["payments:read"]["source"] == "operator"
        assert by_name["wallets:read"]["source"] == "permission"  # held by the owner, not because listed
        assert by_name["payment-requests:pay"]["source"] == "permission"  # a global (✸) permission
        assert "payment-requests:create" not in by_name  # the owner does not hold it
        assert not [n for n in by_name if n.startswith("keyturn:") or n.endswith(":*")]
    r = await client.get(CATALOGUE_PATHS[0], params={"role": "merchant-terminal"}, headers=user.headers)
    names = {s["name"] for s in r.json()["data"]}
    assert "payment-requests:read" in names and "wallets:read" not in names and "ALLOW_OTA_CHARGE" in names
    r = await client.get(CATALOGUE_PATHS[0], params={"role": "cashier"}, headers=user.headers)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ROLE"


async def test_the_catalogue_of_someone_elses_account_is_not_found(client, make_user):
    owner, other = await make_user(), await make_user()
    r = await client.get(CATALOGUE_PATHS[0], params={"accountId": owner.account_id}, headers=other.headers)
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"
    r = await client.get(CATALOGUE_PATHS[0], params={"accountId": owner.account_id}, headers=owner.headers)
    assert r.status_code == 200
    assert (await client.get(CATALOGUE_PATHS[0])).status_code == 401


async def test_an_update_cannot_widen_scope_beyond_the_catalogue(client, make_user, make_credential):
    owner = await make_user()
    cred = await make_credential(owner, scope="payments:read")
    path = f"/api/v2/credential/{cred.client_id}"
    for scope in ("keyturn:admin", "payments:read platform:admin", "payment-requests:create"):
        r = await client.put(path, json={"scope": scope}, headers=owner.headers)
        assert r.status_code == 400 and r.json()["error"] == "INVALID_SCOPE", (scope, r.text)
    assert (await client.get(path, headers=owner.headers)).json()["data"]["scope"] == "payments:read"


async def test_null_on_update_is_refused_naming_the_field_and_changes_nothing(client, make_user, make_credential):
    owner = await make_user()
    cred = await make_credential(owner, scope="payments:read", domain="*.shop.example")
    path = f"/api/v2/credential/{cred.client_id}"
    before = (await client.get(path, headers=owner.headers)).json()["data"]
    for method in ("PUT", "PATCH"):
        for field in ("name", "domain", "scope", "status"):
            r = await client.request(method, path, json={field: None}, headers=owner.headers)
            assert r.status_code == 400, (method, field, r.text)
            assert r.json()["error"] == "INVALID_REQUEST" and field in r.json()["message"]
        r = await client.request(method, path, json={"scope": ""}, headers=owner.headers)
        assert r.status_code == 400 and r.json()["error"] == "INVALID_SCOPE"
        r = await client.request(method, path, json={"scope": "   "}, headers=owner.headers)
        assert r.status_code == 400 and r.json()["error"] == "INVALID_SCOPE"
    assert (await client.get(path, headers=owner.headers)).json()["data"] == before


async def test_put_and_patch_are_partial_updates(client, make_user, make_credential):
    owner = await make_user()
    cred = await make_credential(owner, scope="payments:read payments:write", domain="*.shop.example")
    path = f"/api/v2/credential/{cred.client_id}"
    r = await client.put(path, json={"name": "renamed"}, headers=owner.headers)
    d = r.json()["data"]
    assert (d["name"], d["scope"], d["domain"]) == ("renamed", "payments:read payments:write", "*.shop.example")
    r = await client.patch(path, json={"scope": "payments:read"}, headers=owner.headers)
    d = r.json()["data"]
    assert (d["name"], d["scope"], d["domain"]) == ("renamed", "payments:read", "*.shop.example")
    r = await client.patch(path, json={}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["scope"] == "payments:read"


async def test_an_empty_domain_on_update_means_no_browser_origin(client, make_user, make_credential):
    owner = await make_user()
    cred = await make_credential(owner, domain="*.shop.example")
    r = await client.put(f"/api/v2/credential/{cred.client_id}", json={"domain": ""}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["domain"] == ""
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers={"Origin": "https://www.shop.example"})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200  # a backend (no Origin) is unaffected


async def test_credential_creation_is_rate_limited_per_user(client, clock, ctx, make_user):
    user, other = await make_user(), await make_user()
    bad = await client.post("/api/v2/credential", json={"name": "x", "scope": "keyturn:admin"}, headers=user.headers)
    assert bad.status_code == 400  # a refused creation does not count
    for i in range(3):
        r = await client.post("/api/v2/credential", json={"name": f"c{i}"}, headers=user.headers)
        assert r.status_code == 200, r.text
        clock.advance(60)
    r = await client.post("/api/v2/credential", json={"name": "c3"}, headers=user.headers)
    assert r.status_code == 429
    assert r.json() == {"status": "ERROR", "error": "RATE_LIMITED", "message": r.json()["message"]}
    assert int(r.headers["retry-after"]) == 3600 - 180
    assert len(await _list(client, user)) == 3
    assert (await client.post("/api/v2/credential", json={"name": "o"}, headers=other.headers)).status_code == 200
    clock.advance(3600 - 180)  # the first creation leaves the window (and the user token expires: a new one)
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="", kind="user", now=clock())
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.post("/api/v2/credential", json={"name": "c4"}, headers=headers)).status_code == 200
    assert (await client.post("/api/v2/credential", json={"name": "c5"}, headers=headers)).status_code == 429


async def test_the_operator_cli_may_grant_beyond_the_catalogue_but_never_keyturn_scopes(ctx, make_user):
    from keyturn.core.errors import ApiError
    from keyturn.services import credentials

    user = await make_user()
    for i in range(4):  # nor is the operator rate limited (the limit here is 3)
        issued = await credentials.create(ctx, user.principal, {"name": f"cli{i}", "scope": "a b"},
                                          by_operator=True)
        assert issued.record.scope == "a b"
    with pytest.raises(ApiError) as err:
        await credentials.create(ctx, user.principal, {"name": "x", "scope": "a keyturn:admin"}, by_operator=True)
    assert err.value.code == "INVALID_SCOPE" and "keyturn:admin" in err.value.message
    with pytest.raises(ApiError) as err:  # nor a permission scope beyond the credential's role
        await credentials.create(ctx, user.principal, {"name": "x", "scope": "wallets:read"}, by_operator=True)
    assert err.value.code == "INVALID_SCOPE"
