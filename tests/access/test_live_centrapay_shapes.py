"""Issue 13 item 3 against a real `keyturn serve --demo` (what `make demo` runs) configured for Centrapay
(`KEYTURN_ACCOUNT_HEADER=X-Centrapay-Account`), driven with curl as docs/management-api.md describes, on
SQLite and PostgreSQL: the account header, `{userId, role}`, the operator's flags and subscriptions, and the
API-key audit fields."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.access.conftest import curl
from tests.server import KEYTURN, LiveServer, free_port, live_database

pytestmark = pytest.mark.server


def _demo_json(log: str) -> dict[str, Any]:
    """The JSON `serve --demo` prints (indented, from a line "{" to the line "}")."""
    lines = log.splitlines()
    start = lines.index("{")
    end = lines.index("}", start)
    return dict(json.loads("\n".join(lines[start:end + 1])))


@pytest.fixture(params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    with live_database(request.param, tmp_path) as db:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
        env.update({"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": url, "KEYTURN_DATABASE_URL": db,
                    "KEYTURN_ACCOUNT_HEADER": "X-Centrapay-Account", "KEYTURN_CLIENT_CACHE_TTL": "0"})
        log_path = tmp_path / "demo.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([KEYTURN, "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
                                    env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        server = LiveServer(url, env, proc, log_path)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, server.log()
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.2)
            yield server, _demo_json(server.log())
        finally:
            server.stop()


def test_centrapay_shapes_through_make_demo(demo):
    server, data = demo
    url, token = server.url, data["user_access_token"]
    merchant = data["test_merchant"]["account_id"]
    owner = ["-H", f"Authorization: Bearer {token}"]
    accounts = f"{url}/api/accounts/{merchant}"

    # The account header: Centrapay's name selects, Keyturn's default is refused.
    body = ["-H", "Content-Type: application/json", "-d", '{"name": "till"}']
    status, created, _ = curl("-X", "POST", f"{url}/api/v2/credential", *owner, "-H",
                              f"X-Centrapay-Account: {merchant}", *body)
    assert status == 200 and created["data"]["accountId"] == merchant, created
    status, refused, _ = curl("-X", "POST", f"{url}/api/v2/credential", *owner, "-H",
                              f"X-Keyturn-Account: {merchant}", *body)
    assert status == 400 and refused["error"] == "INVALID_REQUEST", refused
    status, _, head = curl("-X", "OPTIONS", f"{url}/api/account-memberships", "-H", "Origin: http://localhost:8080",
                           "-H", "Access-Control-Request-Method: GET")
    assert status == 204 and "X-Centrapay-Account" in head, head

    # {userId, role}: Centrapay's body adds a member by id.
    member = server.cli("users", "create", "--email", "cashier@example.test", "--password", "correct horse battery")
    status, added, _ = curl("-X", "POST", f"{accounts}/members", *owner, "-H", "Content-Type: application/json",
                            "-d", json.dumps({"userId": member["id"], "role": "merchant-terminal"}))
    assert status == 201 and added["userId"] == member["id"], added
    status, both, _ = curl("-X", "POST", f"{accounts}/members", *owner, "-H", "Content-Type: application/json",
                           "-d", json.dumps({"userId": member["id"], "user": "x", "role": "merchant-terminal"}))
    assert status == 400 and both["status"] == "ERROR"

    # Flags and subscriptions: the demo owner's token is no operator's; the operator's token is.
    status, denied, _ = curl("-X", "PUT", f"{accounts}/flags/trusted-user", *owner)
    assert status == 403 and denied["message"] == "missing permission keyturn:admin"
    admin = server.cli("tokens", "issue", "--user", "demo@keyturn.test", "--scope", "keyturn:admin")["access_token"]
    operator = ["-H", f"Authorization: Bearer {admin}"]
    status, account, _ = curl("-X", "PUT", f"{accounts}/flags/trusted-user", *operator)
    assert status == 200 and account["flags"] == ["trusted-user"], account
    status, account, _ = curl("-X", "PUT", f"{accounts}/subscriptions/external-asset-issuer", *operator)
    assert status == 200 and account["subscriptions"] == ["external-asset-issuer"]
    status, account, _ = curl("-X", "DELETE", f"{accounts}/flags/trusted-user", *operator)
    assert status == 200 and account["flags"] == []

    # API-key entries: createdBy / modifiedAt / modifiedBy (the demo's keys were made by the operator).
    status, keys, _ = curl(f"{accounts}/api-keys", *owner)
    assert status == 200 and {k["createdBy"] for k in keys} == {"operator"}
    imported = next(k for k in keys if k["imported"])
    assert imported["modifiedBy"] == "operator" and imported["modifiedAt"] == imported["createdAt"]
    status, changed, _ = curl("-X", "PUT", f"{accounts}/api-keys/{imported['name']}", *owner, "-H",
                              "Content-Type: application/json", "-d", '{"enabled": false}')
    assert status == 200 and changed["modifiedBy"] == f"user:{data['user']['id']}"
    assert changed["createdBy"] == "operator"
