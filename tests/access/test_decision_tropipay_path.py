"""Issue 13 item 7: TropiPay's permission check, ``POST /api/v2/credential/grant/allow``, is Keyturn's decision
endpoint at TropiPay's path: the same function, so the same request body, statuses and answers as
``POST /api/authorize`` for every kind of caller (a credential's token, an API key, a user), and the same entry
in /openapi.json. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from keyturn.core import paths

ALLOW = "/api/v2/credential/grant/allow"


async def _both(client: httpx.AsyncClient, **kw: Any) -> tuple[int, Any]:
    """Ask both paths; they must agree exactly (status and body). Returns the answer."""
    a = await client.post(paths.DECISION, **kw)
    b = await client.post(ALLOW, **kw)
    assert (b.status_code, b.headers["content-type"]) == (a.status_code, a.headers["content-type"]), (a.text, b.text)
    assert b.json() == a.json()
    assert b.headers.get("www-authenticate") == a.headers.get("www-authenticate")
    return b.status_code, b.json()


async def test_tropipays_path_answers_as_the_decision_endpoint(client, make_user, make_org, make_key,
                                                                make_credential):
    owner = await make_user()
    org = await make_org(owner)
    key = {"X-Api-Key": await make_key(org["id"], "merchant-terminal")}
    cred = await make_credential(owner)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200, r.text
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}

    status, body = await _both(client, json={"permission": "payment-requests:create", "accountId": org["id"]},
                               headers=key)
    assert status == 200 and body["allowed"] is True and body["principal"]["kind"] == "api_key"
    status, body = await _both(client, json={"permission": "payment-requests:create", "accountId": "other"},
                               headers=key)
    assert status == 403 and body["allowed"] is False and body["reason"]
    # A credential asking about itself (TropiPay's use): on its own account, and on one it has nothing on.
    status, body = await _both(client, json={"permission": "accounts:read"}, headers=bearer)
    assert body["principal"]["kind"] == "credential" and body["accountId"] == owner.account_id
    status, body = await _both(client, json={"permission": "accounts:read", "accountId": org["id"]}, headers=bearer)
    assert status == 403 and body["allowed"] is False
    # The account named in X-Keyturn-Account binds it here too.
    status, body = await _both(client, json={"permission": "accounts:read"},
                               headers={**owner.headers, "X-Keyturn-Account": org["id"]})
    assert status == 200 and body["principal"]["role"] == "account-owner"
    # Errors in the management API's shape, identical on both paths.
    for kw in ({"json": {"permission": "nope:nope"}, "headers": key},
               {"json": {"permission": "accounts:read", "extra": 1}, "headers": key},
               {"json": {}, "headers": key},
               {"content": b"{not json", "headers": {**key, "content-type": "application/json"}},
               {"json": {"permission": "accounts:read"}},
               {"json": {"permission": "accounts:read"}, "headers": {"Authorization": "Bearer nope"}}):
        status, body = await _both(client, **kw)
        assert status in (400, 401) and body["status"] == "ERROR" and body["error"], body


async def test_tropipays_path_is_documented_as_the_same_operation(client):
    doc = (await client.get("/openapi.json")).json()
    ours, theirs = doc["paths"][paths.DECISION]["post"], doc["paths"][ALLOW]["post"]
    assert theirs["requestBody"] == ours["requestBody"] and theirs["responses"] == ours["responses"]
    assert theirs["tags"] == ours["tags"] and paths.DECISION in theirs["summary"]
    assert theirs["operationId"] != ours["operationId"]
    # A browser preflight is answered for it as for the decision endpoint.
    pre = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization"}
    a, b = await client.options(paths.DECISION, headers=pre), await client.options(ALLOW, headers=pre)
    assert b.status_code == a.status_code and b.headers.get("access-control-allow-methods") == \
        a.headers.get("access-control-allow-methods")
