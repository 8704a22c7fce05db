"""POST /api/authorize (decision for other services) and GET /auth/forward (gateways), in process."""

from __future__ import annotations

from keyturn.services.demo import create_demo_data
from keyturn.wire.common import ErrorOut
from keyturn.wire.decision import ForwardAllowed, ForwardRefused


async def test_authorize_answers_allowed_principal_and_reason(client, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    key = await make_key(org["id"], "merchant-terminal")
    h = {"X-Api-Key": key}
    r = await client.post(
        "/api/authorize", json={"permission": "payment-requests:create", "accountId": org["id"]}, headers=h
    )
    assert r.status_code == 200
    body = r.json()
    assert body["allowed"] is True and body["principal"]["kind"] == "api_key"
    assert body["principal"]["accountId"] == org["id"] and body["principal"]["role"] == "merchant-terminal"
    r = await client.post(
        "/api/authorize", json={"permission": "payment-requests:create", "accountId": "other"}, headers=h
    )
    assert r.json()["allowed"] is False and r.json()["reason"] == "missing permission payment-requests:create"
    # Default account: the key's own.
    r = await client.post("/api/authorize", json={"permission": "payment-requests:refund"}, headers=h)
    assert r.json()["allowed"] is True and r.json()["accountId"] == org["id"]
    r = await client.post("/api/authorize", json={"permission": "nope:nope"}, headers=h)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_PERMISSION"
    r = await client.post("/api/authorize", json={"permission": "accounts:read"})
    assert r.status_code == 401


async def test_a_users_global_permission_and_account_selection(client, make_user, make_org):
    owner, payer = await make_user(), await make_user()
    org = await make_org(owner)
    # The payer owns only their individual account, yet pays anyone's payment requests (✸).
    r = await client.post(
        "/api/authorize",
        json={"permission": "payment-requests:pay", "accountId": org["id"]},
        headers=payer.headers,
    )
    assert r.json()["allowed"] is True
    r = await client.post(
        "/api/authorize",
        json={"permission": "accounts:read"},
        headers={**owner.headers, "X-Keyturn-Account": org["id"]},
    )
    assert r.json()["allowed"] is True and r.json()["accountId"] == org["id"]
    assert r.json()["principal"]["role"] == "account-owner"
    r = await client.post(
        "/api/authorize",
        json={"permission": "accounts:read"},
        headers={**payer.headers, "X-Keyturn-Account": org["id"]},
    )
    assert r.json()["allowed"] is False


async def test_forward_auth_headers_and_statuses(client, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    key = await make_key(org["id"], "merchant-terminal")
    r = await client.get("/auth/forward", headers={"X-Api-Key": key})
    assert r.status_code == 200
    assert r.headers["x-keyturn-principal-kind"] == "api_key"
    assert r.headers["x-keyturn-account"] == org["id"] and r.headers["x-keyturn-role"] == "merchant-terminal"
    r = await client.get("/auth/forward?permission=payment-requests:void", headers={"X-Api-Key": key})
    assert r.status_code == 200
    r = await client.get("/auth/forward", headers={"X-Api-Key": key, "X-Keyturn-Permission": "wallets:read"})
    assert r.status_code == 403 and r.json()["reason"] == "missing permission wallets:read"
    r = await client.get("/auth/forward?permission=bogus", headers={"X-Api-Key": key})
    assert r.status_code == 403
    r = await client.get("/auth/forward", headers={"X-Api-Key": key, "Authorization": owner.token})
    assert r.status_code == 401  # ambiguous: a gateway only understands 401/403
    r = await client.get("/auth/forward")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = await client.get(
        f"/auth/forward?permission=accounts:read&account={org['id']}", headers={"Authorization": owner.token}
    )
    assert r.status_code == 200 and r.headers["x-keyturn-subject"] == owner.id
    assert r.headers["x-keyturn-role"] == "account-owner" and r.headers["x-keyturn-account"] == org["id"]


async def test_demo_data_has_a_test_merchant_with_a_terminal_key(client, ctx):
    data = await create_demo_data(ctx, "http://keyturn.test")
    merchant = data["test_merchant"]
    assert merchant["api_key"].startswith("kt_test_") and merchant["role"] == "merchant-terminal"
    r = await client.get("/api/account-memberships", headers={"X-Api-Key": merchant["api_key"]})
    assert r.json() == [
        {
            "accountId": merchant["account_id"],
            "accountName": "Test Merchant",
            "accountType": "org",
            "role": "merchant-terminal",
        }
    ]
    again = await create_demo_data(ctx, "http://keyturn.test")  # idempotent; the key is re-issued
    assert again["test_merchant"]["account_id"] == merchant["account_id"]
    assert again["test_merchant"]["api_key"] != merchant["api_key"]


async def test_forward_auths_document_says_what_it_answers(client, make_user, make_org, make_key):
    """/openapi.json documents each status forward-auth answers with the shape it sends, and the identity
    headers of an allowed answer (those always sent as required)."""
    doc = (await client.get("/openapi.json")).json()
    answers = doc["paths"]["/auth/forward"]["get"]["responses"]
    models = {status: a["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
              for status, a in answers.items()}
    assert models == {"200": "ForwardAllowed", "401": "ErrorOut", "403": "ForwardRefused"}
    documented = {name.lower(): h["required"] for name, h in answers["200"]["headers"].items()}
    owner = await make_user()
    org = await make_org(owner)
    key = await make_key(org["id"], "merchant-terminal")
    r = await client.get("/auth/forward", headers={"X-Api-Key": key})
    assert r.status_code == 200 and ForwardAllowed.model_validate(r.json()).principal.accountId == org["id"]
    sent = {name for name in r.headers if name.startswith("x-keyturn-")}
    assert sent <= set(documented) and {n for n, required in documented.items() if required} <= sent
    assert sent == set(documented) - {"x-keyturn-client-id"}  # a key has no OAuth client
    r = await client.get("/auth/forward", headers={"X-Api-Key": key, "X-Keyturn-Permission": "wallets:read"})
    assert r.status_code == 403 and ForwardRefused.model_validate(r.json()).allowed is False
    r = await client.get("/auth/forward", headers={"X-Api-Key": key}, params={"permission": ["a", "b"]})
    assert r.status_code == 403 and ForwardRefused.model_validate(r.json()).reason.endswith("more than once")
    r = await client.get("/auth/forward")
    assert r.status_code == 401 and ErrorOut.model_validate(r.json()).error == "UNAUTHORIZED"
