"""Accounts and members over HTTP: create, read, rename, add and remove members, the last owner."""

from __future__ import annotations


async def test_create_read_update_an_org_account(client, make_user):
    user = await make_user()
    r = await client.post("/api/accounts", json={"name": "Acme"}, headers=user.headers)
    assert r.status_code == 201, r.text
    acct = r.json()
    assert acct["type"] == "org" and acct["test"] is False and acct["createdBy"] == f"user:{user.id}"
    r = await client.get(f"/api/accounts/{acct['id']}", headers=user.headers)
    assert r.status_code == 200 and r.json()["name"] == "Acme"
    r = await client.put(f"/api/accounts/{acct['id']}", json={"name": "Acme 2"}, headers=user.headers)
    assert (
        r.status_code == 200 and r.json()["name"] == "Acme 2" and r.json()["modifiedBy"] == f"user:{user.id}"
    )
    members = (await client.get(f"/api/accounts/{acct['id']}/members", headers=user.headers)).json()
    assert [(m["userId"], m["role"]) for m in members] == [(user.id, "account-owner")]


async def test_mass_assignment_is_refused(client, make_user):
    user = await make_user()
    for body in (
        {"name": "x", "id": "chosen"},
        {"name": "x", "createdBy": "user:root"},
        {"name": "x", "flags": ["kyc"]},
        {"name": "x", "type": "bank"},
    ):
        r = await client.post("/api/accounts", json=body, headers=user.headers)
        assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST", body
    r = await client.put(
        f"/api/accounts/{user.account_id}", json={"name": "x", "subscriptions": ["pro"]}, headers=user.headers
    )
    assert r.status_code == 400
    r = await client.get("/api/account-memberships", headers=user.headers)
    assert len(r.json()) == 1


async def test_a_second_individual_account_is_refused(client, make_user):
    user = await make_user()
    r = await client.post(
        "/api/accounts", json={"name": "me again", "type": "individual"}, headers=user.headers
    )
    assert r.status_code == 409 and r.json()["error"] == "INDIVIDUAL_ACCOUNT_EXISTS"


async def test_keys_cannot_create_accounts(client, make_user, make_org, make_key):
    user = await make_user()
    key = await make_key((await make_org(user))["id"], "account-owner")
    r = await client.post("/api/accounts", json={"name": "x"}, headers={"X-Api-Key": key})
    assert r.status_code == 403 and r.json()["error"] == "PERMISSION_DENIED"


async def test_members_add_list_remove_and_the_last_owner(client, make_user, make_org):
    owner, alice = await make_user(), await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/members"
    r = await client.post(url, json={"user": alice.email, "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 201 and r.json()["userId"] == alice.id
    r = await client.post(url, json={"user": alice.id, "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"] == "ALREADY_MEMBER"
    r = await client.post(
        url, json={"user": "nobody@example.test", "role": "merchant-terminal"}, headers=owner.headers
    )
    assert r.status_code == 404
    r = await client.post(url, json={"user": alice.id, "role": "boss"}, headers=owner.headers)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ROLE"
    # A terminal member cannot manage members at all.
    r = await client.delete(f"{url}/{owner.id}", headers=alice.headers)
    assert r.status_code == 403 and r.json()["message"] == "missing permission accounts:update"
    r = await client.delete(f"{url}/{owner.id}", headers=owner.headers)
    assert r.status_code == 403 and r.json()["error"] == "LAST_OWNER"
    assert (await client.delete(f"{url}/{alice.id}", headers=owner.headers)).status_code == 204
    assert (await client.delete(f"{url}/{alice.id}", headers=owner.headers)).status_code == 404
    # Two owners: one may go, then the other is the last.
    await client.post(url, json={"user": alice.id, "role": "account-owner"}, headers=owner.headers)
    assert (await client.delete(f"{url}/{owner.id}", headers=alice.headers)).status_code == 204
    r = await client.delete(f"{url}/{alice.id}", headers=alice.headers)
    assert r.status_code == 403 and r.json()["error"] == "LAST_OWNER"


async def test_an_individual_account_keeps_exactly_one_member(client, make_user):
    owner, other = await make_user(), await make_user()
    url = f"/api/accounts/{owner.account_id}/members"
    r = await client.post(url, json={"user": other.id, "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"] == "INDIVIDUAL_ACCOUNT"
    r = await client.delete(f"{url}/{owner.id}", headers=owner.headers)
    assert r.status_code == 403 and r.json()["error"] == "LAST_OWNER"


async def test_credentials_join_the_model(client, make_user, make_org):
    owner, terminal_user = await make_user(), await make_user()
    org = await make_org(owner)
    await client.post(
        f"/api/accounts/{org['id']}/members",
        json={"user": terminal_user.id, "role": "merchant-terminal"},
        headers=owner.headers,
    )
    # Default: the creator's individual account, role merchant-terminal.
    r = await client.post("/api/v2/credential", json={"name": "a"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["accountId"] == owner.account_id
    assert r.json()["data"]["role"] == "merchant-terminal"
    # The account selected by the header is the default too.
    r = await client.post(
        "/api/v2/credential", json={"name": "b"}, headers={**owner.headers, "X-Keyturn-Account": org["id"]}
    )
    assert r.json()["data"]["accountId"] == org["id"]
    # Never stronger than the creator; scopes that name permissions stay within the role.
    r = await client.post(
        "/api/v2/credential",
        json={"name": "c", "accountId": org["id"], "role": "account-owner"},
        headers=terminal_user.headers,
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v2/credential", json={"name": "d", "scope": "wallets:read"}, headers=owner.headers
    )
    assert r.status_code == 400 and r.json()["error"] == "INVALID_SCOPE"
    r = await client.post("/api/v2/credential", json={"name": "e", "role": "cashier"}, headers=owner.headers)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ROLE"
    other = await make_user()
    r = await client.post(
        "/api/v2/credential", json={"name": "f", "accountId": org["id"]}, headers=other.headers
    )
    assert r.status_code == 404


async def test_the_openapi_document_lists_the_management_api(client):
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    for path, method in [
        ("/api/account-memberships", "get"),
        ("/api/accounts", "post"),
        ("/api/accounts/{accountId}", "get"),
        ("/api/accounts/{accountId}", "put"),
        ("/api/accounts/{accountId}/members", "post"),
        ("/api/accounts/{accountId}/members/{userId}", "delete"),
        ("/api/users/{userId}/account-memberships", "get"),
        ("/api/accounts/{accountId}/api-keys", "post"),
        ("/api/accounts/{accountId}/api-keys/{name}", "put"),
        ("/api/authorize", "post"),
        ("/auth/forward", "get"),
    ]:
        op = paths[path][method]
        assert "401" in op["responses"], path
    assert "requestBody" in paths["/api/accounts/{accountId}/api-keys"]["post"]
    assert "ApiKeyCreate" in doc["components"]["schemas"] and "ErrorOut" in doc["components"]["schemas"]
