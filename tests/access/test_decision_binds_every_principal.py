"""Issue 9.1 (OWASP API1, R98): the account a gateway or service asks about binds every principal.

Table: principal kind (user token, API key, credential token) × way of naming the account (query
``account``, query ``accountId``, ``X-Keyturn-Account``, the body's ``accountId``) × own / foreign
account, at ``GET /auth/forward`` and ``POST /api/authorize`` alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from keyturn.services import credentials as credentials_service

WAYS = ("query-account", "query-accountId", "header", "body")
KINDS = ("user", "api_key", "credential")
PERMISSION = {"user": "accounts:read", "api_key": "payment-requests:refund", "credential": "payment-requests:refund"}


@pytest.fixture
async def world(client: Any, ctx: Any, make_user: Any, make_org: Any, make_key: Any) -> dict[str, Any]:
    owner, stranger = await make_user(), await make_user()
    own, foreign = await make_org(owner, name="Own Ltd"), await make_org(stranger, name="Foreign Ltd")
    key = await make_key(own["id"], "merchant-terminal")
    issued = await credentials_service.create(ctx, owner.principal, {
        "name": "backend", "accountId": own["id"], "role": "merchant-terminal", "refresh": "none"})
    r = await client.post("/token", data={"grant_type": "client_credentials"},
                          auth=(issued.record.client_id, str(issued.secret)))
    assert r.status_code == 200, r.text
    return {
        "own": own["id"], "foreign": foreign["id"],
        "auth": {"user": {"Authorization": f"Bearer {owner.token}"}, "api_key": {"X-Api-Key": key},
                 "credential": {"Authorization": f"Bearer {r.json()['access_token']}"}},
    }


def _request(way: str, account: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(query, headers, body) naming ``account`` one way."""
    if way == "query-account":
        return {"account": account}, {}, {}
    if way == "query-accountId":
        return {"accountId": account}, {}, {}
    if way == "header":
        return {}, {"X-Keyturn-Account": account}, {}
    return {}, {}, {"accountId": account}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("way", WAYS)
async def test_a_named_foreign_account_is_refused_for_every_principal(client, world, kind, way):
    for which, allowed in (("own", True), ("foreign", False)):
        account = world[which]
        query, headers, body = _request(way, account)
        headers = {**world["auth"][kind], **headers}
        permission = PERMISSION[kind]
        r = await client.post("/api/authorize", params=query, headers=headers,
                              json={"permission": permission, **body})
        assert r.status_code == (200 if allowed else 403), (kind, way, which, r.text)
        assert r.json()["allowed"] is allowed and r.json()["accountId"] == account and r.json()["reason"]
        if way == "body":
            continue  # a GET carries no body
        r = await client.get("/auth/forward", params={"permission": permission, **query}, headers=headers)
        assert r.status_code == (200 if allowed else 403), (kind, way, which, r.text)
        if allowed:
            assert r.headers["x-keyturn-account"] == account
        else:
            assert "x-keyturn-account" not in r.headers and r.json()["reason"]


@pytest.mark.parametrize("kind", KINDS)
async def test_forward_auth_without_a_permission_still_binds_the_named_account(client, world, kind):
    headers = world["auth"][kind]
    r = await client.get("/auth/forward", params={"account": world["own"]}, headers=headers)
    assert r.status_code == 200 and r.headers["x-keyturn-account"] == world["own"]
    r = await client.get("/auth/forward", params={"account": world["foreign"]}, headers=headers)
    assert r.status_code == 403 and "x-keyturn-account" not in r.headers


async def test_two_different_accounts_named_are_refused(client, world):
    headers = {**world["auth"]["api_key"], "X-Keyturn-Account": world["own"]}
    r = await client.get("/auth/forward", params={"permission": "payment-requests:refund",
                                                  "account": world["foreign"]}, headers=headers)
    assert r.status_code == 403 and "more than one account" in r.json()["reason"]
    r = await client.post("/api/authorize", headers=headers,
                          json={"permission": "payment-requests:refund", "accountId": world["foreign"]})
    assert r.status_code == 403 and r.json()["allowed"] is False


async def test_a_malformed_account_name_is_a_403_not_a_500(client, world):
    for junk in ("\x00", "x" * 300, "é"):
        r = await client.get("/auth/forward", params={"permission": "payment-requests:refund", "account": junk},
                             headers=world["auth"]["api_key"])
        assert r.status_code == 403, junk


async def test_global_permissions_still_reach_any_account(client, ctx, world, make_user, make_key):
    """Seed 001's ✸: an anon-consumer key pays payment requests of any merchant."""
    payer = await make_user()
    key = await make_key(payer.account_id, "anon-consumer")
    r = await client.get("/auth/forward", params={"permission": "payment-requests:pay", "account": world["foreign"]},
                         headers={"X-Api-Key": key})
    assert r.status_code == 200 and r.headers["x-keyturn-account"] == world["foreign"]
    r = await client.get("/auth/forward", params={"permission": "payment-requests:refund",
                                                  "account": world["foreign"]}, headers={"X-Api-Key": key})
    assert r.status_code == 403


@pytest.mark.parametrize("how", ["header and query", "two parameters", "a second empty parameter",
                                 "two headers", "a differently spelled parameter"])
async def test_a_permission_named_twice_is_refused_never_chosen_by_the_caller(client, world, how):
    """A gateway sets one source; a client controlling the other must not pick the permission (403)."""
    key = world["auth"]["api_key"]
    params: list[tuple[str, str]] = [("permission", "merchants:create")]
    headers: list[tuple[str, str]] = list(key.items())
    if how == "header and query":
        headers.append(("X-Keyturn-Permission", "payment-requests:create"))
    elif how == "two parameters":
        params.append(("permission", "payment-requests:create"))
    elif how == "a second empty parameter":
        params.append(("permission", ""))
    elif how == "two headers":
        params = []
        headers += [("X-Keyturn-Permission", "payment-requests:create"), ("X-Keyturn-Permission", "merchants:create")]
    else:
        params.append(("Permission", "payment-requests:create"))
    r = await client.get("/auth/forward", params=params, headers=headers)
    assert r.status_code == 403, (how, r.text)
    assert "x-keyturn-account" not in r.headers


@pytest.mark.parametrize("name", ["ACCOUNTID", "Account", "account_id", "account[]", "Account-Id"])
async def test_any_spelling_of_the_account_parameter_binds_the_decision(client, world, name):
    r = await client.get("/auth/forward", params={"permission": "payment-requests:refund", name: world["foreign"]},
                         headers=world["auth"]["api_key"])
    assert r.status_code == 403, name


async def test_two_credentials_of_the_same_kind_are_ambiguous(client, world, make_key):
    other = await make_key(world["own"], "merchant-terminal")
    two_keys = [("X-Api-Key", other), *world["auth"]["api_key"].items()]
    r = await client.get("/api/account-memberships", headers=two_keys)
    assert r.status_code == 400 and r.json()["error"] == "AMBIGUOUS_CREDENTIALS"
    r = await client.get("/auth/forward", headers=two_keys)
    assert r.status_code == 401  # a gateway only understands 401/403
    two_tokens = [("Authorization", world["auth"]["user"]["Authorization"]),
                  ("Authorization", world["auth"]["credential"]["Authorization"])]
    r = await client.post("/api/authorize", json={"permission": "accounts:read"}, headers=two_tokens)
    assert r.status_code == 400
