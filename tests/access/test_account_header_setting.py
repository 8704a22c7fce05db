"""KEYTURN_ACCOUNT_HEADER=X-Centrapay-Account: every reader of the account-selection header reads that one name
(management API, decision endpoint, /auth/forward, CORS preflight, the OpenAPI text), and a request still sending
X-Keyturn-Account is refused in each audience's shape, never acted on."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings_overrides():
    return {"account_header": "X-Centrapay-Account"}


async def test_the_management_api_selects_with_the_configured_header(client, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    url = "/api/v2/credential/grant/list?role=merchant-terminal"
    r = await client.get(url, headers={**owner.headers, "X-Centrapay-Account": org["id"]})
    assert r.status_code == 200, r.text
    r = await client.get(url, headers={**owner.headers, "X-Keyturn-Account": org["id"]})
    assert r.status_code == 400 and r.json() == {
        "status": "ERROR", "error": "INVALID_REQUEST",
        "message": "this server selects the account with X-Centrapay-Account, not X-Keyturn-Account"}
    r = await client.get(url, headers={**owner.headers, "X-Centrapay-Account": " "})
    assert r.status_code == 400 and r.json()["message"] == "X-Centrapay-Account must be an account id"


async def test_the_credential_lands_on_the_account_the_configured_header_selects(client, ctx, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    r = await client.post("/api/v2/credential", json={"name": "till"},
                          headers={**owner.headers, "X-Centrapay-Account": org["id"]})
    assert r.status_code in (200, 201), r.text
    assert r.json()["data"]["accountId"] == org["id"]  # the default would be the owner's individual account
    r = await client.post("/api/v2/credential", json={"name": "till2"},
                          headers={**owner.headers, "X-Keyturn-Account": org["id"]})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"


async def test_the_decision_endpoints_read_the_configured_header(client, make_user, make_org, make_key):
    owner, payer = await make_user(), await make_user()
    org = await make_org(owner)
    r = await client.post("/api/authorize", json={"permission": "accounts:read"},
                          headers={**owner.headers, "X-Centrapay-Account": org["id"]})
    assert r.status_code == 200 and r.json()["accountId"] == org["id"]
    r = await client.post("/api/authorize", json={"permission": "accounts:read"},
                          headers={**payer.headers, "X-Centrapay-Account": org["id"]})
    assert r.status_code == 403 and r.json()["allowed"] is False
    r = await client.post("/api/authorize", json={"permission": "accounts:read"},
                          headers={**owner.headers, "X-Keyturn-Account": org["id"]})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"
    # Forward-auth: decided on the named account; the identity answer keeps its X-Keyturn-* names.
    r = await client.get("/auth/forward?permission=accounts:read",
                         headers={"Authorization": owner.token, "X-Centrapay-Account": org["id"]})
    assert r.status_code == 200 and r.headers["x-keyturn-account"] == org["id"]
    r = await client.get("/auth/forward?permission=accounts:read",
                         headers={"Authorization": payer.token, "X-Centrapay-Account": org["id"]})
    assert r.status_code == 403
    # The default header is refused with a gateway's 403, never read as the target (nor ignored).
    r = await client.get("/auth/forward?permission=accounts:read",
                         headers={"Authorization": owner.token, "X-Keyturn-Account": org["id"]})
    assert r.status_code == 403 and "X-Centrapay-Account" in r.json()["reason"]
    key = await make_key(org["id"], "merchant-terminal")
    r = await client.get("/auth/forward", headers={"X-Api-Key": key, "X-Centrapay-Account": "another"})
    assert r.status_code == 403


async def test_cors_preflight_and_openapi_name_the_configured_header(client, ctx, make_credential):
    await make_credential(domain="https://shop.example")
    r = await client.options("/api/account-memberships", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-centrapay-account"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-headers"] == \
        "Authorization, Content-Type, DPoP, X-Api-Key, X-Centrapay-Account"
    doc = (await client.get("/openapi.json")).json()
    assert "`X-Centrapay-Account`" in doc["info"]["description"]
