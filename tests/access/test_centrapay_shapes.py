"""Centrapay's request shapes (issue 13 item 3): ``{userId, role}`` to add a member, account flags and
subscriptions through the management API (the operator's only), and API-key audit fields."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict
from typing import Any

import pytest
from typer.testing import CliRunner

from keyturn.cli.main import app as cli_app
from keyturn.core.audit import AuditFilter
from keyturn.core.errors import ApiError
from keyturn.services import accounts as accounts_service
from keyturn.services import audit as audit_service
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token


def _operator(ctx: Any, user_id: str, scope: str = "keyturn:admin") -> dict[str, str]:
    token, _ = mint_access_token(ctx, sub=user_id, client_id=OPERATOR_CLIENT_ID, scope=scope, kind="user",
                                 now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


async def _events(ctx: Any, kind: str) -> list[Any]:
    return [asdict(e) for e in (await audit_service.list_events(ctx, AuditFilter(kinds=(kind,)))).events]


# -- members: {userId, role} ------------------------------------------------------------------------------------

async def test_a_member_is_added_with_centrapays_user_id(client, make_user, make_org):
    owner, alice = await make_user(), await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/members"
    r = await client.post(url, json={"userId": alice.id, "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["userId"] == alice.id and r.json()["role"] == "merchant-terminal"
    r = await client.post(url, json={"userId": alice.id, "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"] == "ALREADY_MEMBER"


async def test_user_id_is_an_id_only_and_unknown_ids_are_not_found(client, make_user, make_org):
    owner, bob = await make_user(), await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/members"
    for user_id in (bob.email, "no-such-user"):  # userId is the id: an email there finds nobody
        r = await client.post(url, json={"userId": user_id, "role": "merchant-terminal"}, headers=owner.headers)
        assert r.status_code == 404 and r.json()["status"] == "ERROR", user_id


@pytest.mark.parametrize(("body", "says"), [
    ({"role": "merchant-terminal"}, "send exactly one of user or userId"),
    ({"user": "x@example.test", "userId": "u", "role": "merchant-terminal"}, "send exactly one of user or userId"),
    ({"userId": None, "role": "merchant-terminal"}, "send exactly one of user or userId"),
    ({"userId": 7, "role": "merchant-terminal"}, "userId:"),
    ({"userId": "a" * 65, "role": "merchant-terminal"}, "userId:"),
    ({"userId": "u", "role": "merchant-terminal", "id": "x"}, "id:"),
])
async def test_exactly_one_of_user_or_user_id(client, make_user, make_org, body, says):
    owner = await make_user()
    org = await make_org(owner)
    r = await client.post(f"/api/accounts/{org['id']}/members", json=body, headers=owner.headers)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "ERROR" and r.json()["error"] == "INVALID_REQUEST"
    assert says in r.json()["message"], r.json()


async def test_the_openapi_member_model_shows_user_and_user_id(client):
    doc = (await client.get("/openapi.json")).json()
    props = doc["components"]["schemas"]["MemberAdd"]["properties"]
    assert {"user", "userId", "role"} <= set(props)
    assert doc["components"]["schemas"]["MemberAdd"]["required"] == ["role"]


# -- flags and subscriptions ---------------------------------------------------------------------------------------

async def test_the_operator_gives_and_takes_flags_and_subscriptions(client, ctx, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    op = _operator(ctx, owner.id)
    base = f"/api/accounts/{org['id']}"
    r = await client.put(f"{base}/flags/trusted-user", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["flags"] == ["trusted-user"] and r.json()["modifiedBy"] == f"user:{owner.id}"
    assert (await client.put(f"{base}/flags/trusted-user", headers=op)).json()["flags"] == ["trusted-user"]
    r = await client.put(f"{base}/subscriptions/external-asset-issuer", headers=op)
    assert r.status_code == 200 and r.json()["subscriptions"] == ["external-asset-issuer"]
    r = await client.get(base, headers=owner.headers)  # the owner sees them
    assert r.json()["flags"] == ["trusted-user"] and r.json()["subscriptions"] == ["external-asset-issuer"]
    r = await client.delete(f"{base}/flags/trusted-user", headers=op)
    assert r.status_code == 200 and r.json()["flags"] == []
    r = await client.delete(f"{base}/flags/trusted-user", headers=op)  # idempotent: nothing more to remove
    assert r.status_code == 200 and r.json()["flags"] == []
    r = await client.delete(f"{base}/subscriptions/external-asset-issuer", headers=op)
    assert r.status_code == 200 and r.json()["subscriptions"] == []
    (added, removed) = await _events(ctx, "account.flags_changed")
    assert added["actor"] == f"user:{owner.id}" and added["subject"] == org["id"]
    assert added["detail"]["added"] == ["trusted-user"] and added["detail"]["removed"] == []
    assert removed["detail"]["removed"] == ["trusted-user"] and removed["detail"]["flags"] == []
    assert len(await _events(ctx, "account.subscriptions_changed")) == 2  # no event for a change of nothing


async def test_an_account_owner_cannot_grant_their_own_account_a_flag_or_subscription(
        client, ctx, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    key = await make_key(org["id"], "account-owner")
    base = f"/api/accounts/{org['id']}"
    for headers in (owner.headers, {"X-Api-Key": key}, _operator(ctx, owner.id, scope="keyturn:audit")):
        for method, path in (("PUT", "flags/trusted-user"), ("DELETE", "flags/trusted-user"),
                             ("PUT", "subscriptions/external-asset-issuer")):
            r = await client.request(method, f"{base}/{path}", headers=headers)
            assert r.status_code == 403, (headers, path, r.text)
            assert r.json() == {"status": "ERROR", "error": "PERMISSION_DENIED",
                                "message": "missing permission keyturn:admin"}
    assert (await client.get(base, headers=owner.headers)).json()["flags"] == []
    assert await _events(ctx, "account.flags_changed") == []
    r = await client.put(f"{base}/flags/trusted-user")
    assert r.status_code == 401


async def test_flag_names_and_accounts_are_checked(client, ctx, make_user):
    owner = await make_user()
    op = _operator(ctx, owner.id)
    r = await client.put(f"/api/accounts/{owner.account_id}/flags/-bad", headers=op)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"
    r = await client.put(f"/api/accounts/{owner.account_id}/subscriptions/{'a' * 101}", headers=op)
    assert r.status_code == 400
    r = await client.put("/api/accounts/no-such-account/flags/trusted-user", headers=op)
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"
    r = await client.put("/api/accounts/%01/flags/trusted-user", headers=op)
    assert r.status_code == 404


async def test_a_change_drops_cached_api_key_principals(ctx, make_user, make_org, monkeypatch):
    """A key's cached principal carries its account's flags (policy conditions): a change drops it."""
    owner = await make_user()
    org = await make_org(owner)
    notices: list[str] = []
    monkeypatch.setattr(ctx, "changed", lambda kind, key=None: notices.append(kind))
    account = await accounts_service.change_features(ctx, None, org["id"], "flag", add=("trusted-user",))
    assert account.flags == ("trusted-user",) and account.updated_by == "operator" and notices == ["api_key"]
    await accounts_service.change_features(ctx, None, org["id"], "flag", add=("trusted-user",))
    assert notices == ["api_key"]  # nothing changed, nothing to drop


async def test_change_features_refuses_contradictions_and_too_many(ctx, make_user, make_org, monkeypatch):
    owner = await make_user()
    org = await make_org(owner)
    repeated = await accounts_service.change_features(ctx, None, org["id"], "flag", add=("kyc", "kyc"))
    assert repeated.flags == ("kyc",)  # a repeated name counts once
    with pytest.raises(ApiError, match="both added and removed"):
        await accounts_service.change_features(ctx, None, org["id"], "flag", add=("a",), remove=("a",))
    monkeypatch.setattr(accounts_service, "MAX_FEATURES", 2)
    await accounts_service.change_features(ctx, None, org["id"], "subscription", add=("a", "b"))
    with pytest.raises(ApiError, match="at most 2 subscriptions"):
        await accounts_service.change_features(ctx, None, org["id"], "subscription", add=("c",))
    with pytest.raises(ApiError, match="at most 2 flags"):
        await accounts_service.change_features(ctx, None, org["id"], "flag", add=("a", "b", "c"))
    with pytest.raises(ApiError, match="a flag is"):
        await accounts_service.create_account(ctx, None, name="x", flags=("no spaces",))


async def test_the_cli_gives_and_takes_flags_and_subscriptions(ctx, make_user, make_org, settings, monkeypatch):
    owner = await make_user()
    org = await make_org(owner)
    for key, value in settings.model_dump(mode="json").items():
        if value is not None:
            monkeypatch.setenv(f"KEYTURN_{key.upper()}", value if isinstance(value, str) else
                               " ".join(value) if isinstance(value, list) else str(value))

    async def cli(*args: str, ok: bool = True) -> str:
        result = await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return str(result.output)

    out = await cli("accounts", "flags", "--account", org["id"], "--add", "trusted-user", "--add", "kyc", "--json")
    assert '"flags": [\n    "trusted-user",\n    "kyc"\n  ]' in out or '"trusted-user"' in out
    out = await cli("accounts", "flags", "--account", org["id"], "--remove", "kyc")
    assert out.strip() == f"account {org['id']} flags: trusted-user"
    out = await cli("accounts", "subscriptions", "--account", org["id"], "--add", "external-asset-issuer")
    assert out.strip() == f"account {org['id']} subscriptions: external-asset-issuer"
    out = await cli("accounts", "subscriptions", "--account", org["id"], "--remove", "external-asset-issuer")
    assert out.strip() == f"account {org['id']} subscriptions: (none)"
    await cli("accounts", "flags", "--account", org["id"], ok=False)  # nothing to do
    await cli("accounts", "flags", "--account", org["id"], "--add", "bad name", ok=False)
    (event, *_) = await _events(ctx, "account.flags_changed")
    assert event["actor"] == "operator"


# -- API keys: createdBy / modifiedAt / modifiedBy -----------------------------------------------------------------

async def test_api_key_entries_carry_who_created_and_who_last_modified(client, ctx, clock, make_user, make_org):
    owner, admin = await make_user(), await make_user()
    org = await make_org(owner)
    await client.post(f"/api/accounts/{org['id']}/members", json={"userId": admin.id, "role": "account-owner"},
                      headers=owner.headers)
    base = f"/api/accounts/{org['id']}/api-keys"
    r = await client.post(base, json={"name": "till", "role": "merchant-terminal"}, headers=owner.headers)
    assert r.status_code == 201
    created = r.json()
    assert created["createdBy"] == created["modifiedBy"] == f"user:{owner.id}"
    assert created["createdAt"] == created["modifiedAt"] == created["updatedAt"] is not None
    clock.advance(5)
    r = await client.put(f"{base}/till", json={"enabled": False}, headers=admin.headers)
    assert r.status_code == 200
    changed = r.json()
    assert changed["createdBy"] == f"user:{owner.id}" and changed["modifiedBy"] == f"user:{admin.id}"
    assert changed["modifiedAt"] == changed["updatedAt"] != changed["createdAt"]
    clock.advance(5)
    r = await client.put(f"{base}/till", json={"rateLimit": "10/60"}, headers=owner.headers)
    assert r.json()["modifiedBy"] == f"user:{owner.id}"
    (listed,) = (await client.get(base, headers=owner.headers)).json()
    assert listed["modifiedBy"] == f"user:{owner.id}" and listed["modifiedAt"] == r.json()["modifiedAt"]
    assert "secret" not in listed
    one = await client.get(f"{base}/till", headers=admin.headers)
    assert one.status_code == 200 and one.json() == listed
    assert (await client.get(f"{base}/nope", headers=owner.headers)).status_code == 404
    terminal = await make_user()
    await client.post(f"/api/accounts/{org['id']}/members", json={"userId": terminal.id, "role": "merchant-terminal"},
                      headers=owner.headers)
    r = await client.get(f"{base}/till", headers=terminal.headers)
    assert r.status_code == 403 and r.json()["message"] == "missing permission api-keys:list"
    # A key creating a key is named by its id.
    strong = await client.post(base, json={"name": "boss", "role": "account-owner"}, headers=owner.headers)
    r = await client.post(base, json={"name": "made-by-key", "role": "merchant-terminal"},
                          headers={"X-Api-Key": strong.json()["secret"]})
    assert r.json()["createdBy"] == r.json()["modifiedBy"] == f"api-key:{strong.json()['id']}"


async def test_imported_keys_carry_the_audit_fields_too(client, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    r = await client.post(f"/api/accounts/{org['id']}/api-keys/import",
                          json={"name": "legacy", "role": "merchant-terminal", "key": secrets.token_hex(20)},
                          headers=owner.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["imported"] is True and body["createdBy"] == body["modifiedBy"] == f"user:{owner.id}"
    assert body["createdAt"] == body["modifiedAt"]


async def test_the_openapi_api_key_model_documents_the_audit_fields(client):
    doc = (await client.get("/openapi.json")).json()
    props = doc["components"]["schemas"]["ApiKeyOut"]["properties"]
    assert {"createdAt", "createdBy", "modifiedAt", "modifiedBy", "updatedAt"} <= set(props)
