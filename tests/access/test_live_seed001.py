"""Seed 001's two curl calls against a real `keyturn serve`, provisioned with the CLI as an operator would."""

from __future__ import annotations

import pytest

from tests.access.conftest import cli, curl

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def provisioned(module_live_server):
    s = module_live_server
    user = cli(
        s, "users", "create", "--email", "merchant@example.test", "--password", "correct horse battery"
    )
    org = cli(
        s, "accounts", "create", "--name", "Test Merchant", "--owner", "merchant@example.test", "--test"
    )
    key = cli(
        s, "api-keys", "create", "--account", org["id"], "--name", "till-1", "--role", "merchant-terminal"
    )
    token = cli(s, "tokens", "issue", "--user", "merchant@example.test")["access_token"]
    return {"server": s, "user": user, "org": org, "key": key, "token": token}


def test_seed_001_curl_with_api_key(provisioned):
    s, org, key = provisioned["server"], provisioned["org"], provisioned["key"]
    assert key["secret"].startswith("kt_test_") and key["role"] == "merchant-terminal"
    status, body, _ = curl(
        "-X", "GET", f"{s.url}/api/account-memberships", "-H", f"X-Api-Key: {key['secret']}"
    )
    assert status == 200
    assert body == [
        {
            "accountId": org["id"],
            "accountName": "Test Merchant",
            "accountType": "org",
            "role": "merchant-terminal",
        }
    ]


def test_seed_001_curl_with_a_bare_access_token(provisioned):
    s, user, org = provisioned["server"], provisioned["user"], provisioned["org"]
    status, body, _ = curl(
        "-X", "GET", f"{s.url}/api/account-memberships", "-H", f"Authorization: {provisioned['token']}"
    )
    assert status == 200
    assert {(m["accountId"], m["accountType"], m["role"]) for m in body} == {
        (user["individualAccountId"], "individual", "account-owner"),
        (org["id"], "org", "account-owner"),
    }


def test_seed_001_test_merchant_key_imported_with_the_cli_then_the_seeds_curl_line(provisioned):
    """Issue 13 item 1: the seed's published key, imported from stdin (never argv), works with curl as written."""
    import time

    from typer.testing import CliRunner

    from keyturn.cli.main import app

    s, org = provisioned["server"], provisioned["org"]
    seed_key = "f32c5497297084e5354b47c40d5ccacb109ce483"
    env = {k: v for k, v in s.env.items() if k.startswith("KEYTURN_")}
    res = CliRunner().invoke(app, ["api-keys", "import", "--account", org["id"], "--name", "seed-001",
                                   "--role", "merchant-terminal", "--json"], env=env, input=seed_key + "\n")
    assert res.exit_code == 0, res.output
    assert seed_key not in res.output
    deadline = time.monotonic() + 5  # the server's "no imported key" answer lasts client_cache_ttl at most
    while True:
        status, body, _ = curl("-X", "GET", f"{s.url}/api/account-memberships", "-H", f"X-Api-Key: {seed_key}")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and body == [{"accountId": org["id"], "accountName": "Test Merchant",
                                       "accountType": "org", "role": "merchant-terminal"}]
