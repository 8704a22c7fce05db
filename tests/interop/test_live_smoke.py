"""A real server process answers a real HTTP client (httpx over TCP)."""

from __future__ import annotations

import httpx


def test_live_server_issues_client_credentials_token(live_server):
    user = live_server.cli("users", "create", "--email", "live@example.test", "--password", "correct horse battery")
    cred = live_server.cli("credentials", "create", "--user", user["id"], "--name", "live", "--scope", "a b")
    r = httpx.post(f"{live_server.url}/token", data={"grant_type": "client_credentials"},
                   auth=(cred["data"]["username"], cred["data"]["password"]))
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "a b"
