"""A real `keyturn serve` with KEYTURN_POLICY_FILE=examples/policies/centrapay-2026.yaml, asked with curl.

Provisioned with the CLI as an operator would (SQLite and PostgreSQL): a shop with cashier and
merchant-terminal keys answering POST /api/authorize and GET /auth/forward; a user made trusted with
`keyturn accounts flags`; and `keyturn serve --demo` as `make demo` runs it with this policy.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.access.centrapay_2026 import POLICY_FILE
from tests.access.conftest import cli, curl
from tests.server import start_server

pytestmark = pytest.mark.server
SERVER_ENV = {"KEYTURN_POLICY_FILE": str(POLICY_FILE)}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def shop(module_live_server):
    s = module_live_server
    owner = cli(s, "users", "create", "--email", "owner@example.test", "--password", PASSWORD)
    org = cli(s, "accounts", "create", "--name", "Corner Shop", "--owner", "owner@example.test")
    other = cli(s, "accounts", "create", "--name", "Other Shop", "--owner", "owner@example.test")
    keys = {role: cli(s, "api-keys", "create", "--account", org["id"], "--name", role, "--role", role)["secret"]
            for role in ("cashier", "merchant-terminal")}
    return {"server": s, "owner": owner, "org": org["id"], "other": other["id"], "keys": keys}


def authorize(s: Any, headers: list[str], permission: str, account: str | None = None) -> tuple[int, Any]:
    body = {"permission": permission} | ({"accountId": account} if account else {})
    status, answer, _ = curl("-X", "POST", f"{s.url}/api/authorize", *headers,
                             "-H", "Content-Type: application/json", "-d", json.dumps(body))
    assert status == (200 if answer["allowed"] else 403), answer
    return status, answer


def test_a_cashier_key_takes_payments_at_its_shop(shop):
    s, org = shop["server"], shop["org"]
    h = ["-H", f"X-Api-Key: {shop['keys']['cashier']}"]
    for permission, allowed in (("payment-requests:create", True), ("payment-requests:refund", True),
                                ("merchants:read", True), ("api-keys:create", False), ("assets:read", False)):
        status, body = authorize(s, h, permission)
        assert body["allowed"] is allowed and body["accountId"] == org, (permission, body)
        assert body["principal"]["kind"] == "api_key" and body["principal"]["role"] == "cashier"
    # ✸: pays any org's payment requests; not an individual account's (🗄 on the account that owns it).
    status, body = authorize(s, h, "payment-requests:pay", shop["other"])
    assert status == 200 and body["reason"].endswith("globally")
    status, body = authorize(s, h, "payment-requests:pay", shop["owner"]["individualAccountId"])
    assert status == 403 and body["reason"] == (
        "condition not met for payment-requests:pay: needs org-account (the targeted account type must be org)")
    status, body = authorize(s, h, "payment-requests:create", shop["other"])
    assert status == 403 and body["reason"] == "missing permission payment-requests:create"


def test_a_terminal_key_creates_payment_requests_for_any_org_through_forward_auth(shop):
    s, key = shop["server"], shop["keys"]["merchant-terminal"]
    status, body = authorize(s, ["-H", f"X-Api-Key: {key}"], "payment-requests:create", shop["other"])
    assert status == 200 and body["accountId"] == shop["other"]
    forward = f"{s.url}/auth/forward"
    status, _, head = curl(forward, "-H", f"X-Api-Key: {key}", "-H", "X-Keyturn-Permission: payment-requests:create")
    assert status == 200 and f"x-keyturn-account: {shop['org']}" in head.lower()
    assert "x-keyturn-role: merchant-terminal" in head.lower()
    status, body, _ = curl(f"{forward}?permission=payment-requests:create&account="
                           f"{shop['owner']['individualAccountId']}", "-H", f"X-Api-Key: {key}")
    assert status == 403 and body["reason"].startswith("condition not met for payment-requests:create: needs org")
    status, body, _ = curl(f"{forward}?permission=merchants:read", "-H", f"X-Api-Key: {key}")
    assert status == 403 and body["reason"] == "missing permission merchants:read"


def test_the_operator_makes_a_user_trusted_on_their_individual_account(shop):
    s, org = shop["server"], shop["org"]
    user = cli(s, "users", "create", "--email", "issuer@example.test", "--password", PASSWORD)
    cli(s, "members", "add", "--account", org, "--user", "issuer@example.test", "--role", "external-asset-provider")
    h = ["-H", f"Authorization: {cli(s, 'tokens', 'issue', '--user', 'issuer@example.test')['access_token']}"]
    status, body = authorize(s, h, "asset-transfers:create", org)
    assert status == 403 and "needs trusted-user" in body["reason"]
    out = cli(s, "accounts", "flags", "--account", user["individualAccountId"], "--add", "trusted-user")
    assert out["flags"] == ["trusted-user"] and out["id"] == user["individualAccountId"]
    status, body = authorize(s, h, "asset-transfers:create", org)
    assert status == 200 and body["principal"]["role"] == "external-asset-provider" and body["accountId"] == org
    out = cli(s, "accounts", "flags", "--account", user["individualAccountId"], "--remove", "trusted-user")
    assert out["flags"] == []
    assert authorize(s, h, "asset-transfers:create", org)[0] == 403
    events = cli(s, "audit", "list", "--kind", "account.flags_changed", "--subject", user["individualAccountId"])
    assert sorted(e["detail"]["flags"] for e in events["data"]) == [[], ["trusted-user"]]


def test_make_demo_with_the_2026_policy(tmp_path):
    """`KEYTURN_POLICY_FILE=examples/policies/centrapay-2026.yaml make demo`, then the README's curl lines."""
    server = start_server(f"sqlite+aiosqlite:///{tmp_path}/demo.db", tmp_path, env_extra=SERVER_ENV, args=("--demo",))
    try:
        deadline = time.monotonic() + 10
        while '"test_merchant"' not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log()
        demo, _ = json.JSONDecoder().raw_decode(log[log.index('{\n  "user"'):])
        merchant = demo["test_merchant"]
        for key in (merchant["api_key"], merchant["seed_001_api_key"]):
            status, body = authorize(server, ["-H", f"X-Api-Key: {key}"], "payment-requests:create")
            assert status == 200 and body["accountId"] == merchant["account_id"]
            assert body["principal"]["role"] == "merchant-terminal"
        status, body, _ = curl(f"{server.url}/api/account-memberships", "-H", f"X-Api-Key: {merchant['api_key']}")
        assert status == 200 and body[0]["accountType"] == "org"
        till = cli(server, "api-keys", "create", "--account", merchant["account_id"], "--name", "till-1",
                   "--role", "cashier")
        status, body = authorize(server, ["-H", f"X-Api-Key: {till['secret']}"], "merchants:list")
        assert status == 200 and body["principal"]["role"] == "cashier"
    finally:
        server.stop()
