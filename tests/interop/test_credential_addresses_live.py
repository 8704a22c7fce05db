"""Issue 13 item 5 against a real ``keyturn serve`` over TCP from 127.0.0.1: a credential created as seed 000
shows (``POST /api/v2/credential`` with a user token) whose ``domain`` names addresses gets tokens only from
them; ``X-Forwarded-For`` is ignored until ``KEYTURN_TRUSTED_PROXIES=127.0.0.1``, then the forwarded client is
the one checked (and named in the access log and the audit trail). Same database, two server starts."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import LiveServer, live_database, start_server

pytestmark = pytest.mark.server
XFF = {"X-Forwarded-For": "203.0.113.7"}


def _credential(server: LiveServer, token: str, domain: str) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/v2/credential", json={"name": "my.app.cu", "domain": domain},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    assert data["domain"] == domain
    return data


def _token(server: LiveServer, cred: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"grant_type": "client_credentials", "client_id": cred["username"], "client_secret": cred["password"]}
    return httpx.post(f"{server.url}/api/v2/access/token", json=body, headers=headers or {})


def _refused(r: httpx.Response) -> bool:
    return r.status_code == 400 and r.json() == {
        "error": "unauthorized_client", "error_description": "this client is not allowed from this address"}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_addresses_over_tcp_and_x_forwarded_for_only_from_a_trusted_proxy(kind: str, tmp_path: Path) -> None:
    with live_database(kind, tmp_path) as db:
        server = start_server(db, tmp_path)
        try:
            email = f"merchant-{uuid.uuid4().hex[:6]}@my.app.cu"
            server.cli("users", "create", "--email", email, "--password", "correct horse battery")
            token = server.cli("tokens", "issue", "--user", email, "--lifetime", "900")["access_token"]
            local = _credential(server, token, "*.localhost.* 127.0.0.0/8 ::1")
            remote = _credential(server, token, ".*tropipay.com.* www.my.app.cu 203.0.113.0/24")
            r = httpx.post(f"{server.url}/api/v2/credential", json={"name": "x", "domain": "10.0.0.1/24"},
                           headers={"Authorization": f"Bearer {token}"})
            assert (r.status_code, r.json()["error"]) == (400, "INVALID_DOMAIN")
            assert "did you mean 10.0.0.0/24" in r.json()["message"]

            assert _token(server, local).status_code == 200  # the TCP peer is 127.0.0.1
            assert _refused(_token(server, remote))
            assert _refused(_token(server, remote, XFF))  # no trusted proxy: the header is not read
            assert _token(server, local, XFF).status_code == 200
        finally:
            server.stop()
        assert "ip=203.0.113.7" not in server.log()

        server = start_server(db, tmp_path, env_extra={"KEYTURN_TRUSTED_PROXIES": "127.0.0.1"})
        try:
            assert _token(server, remote, XFF).status_code == 200  # 127.0.0.1 forwards for 203.0.113.7
            assert _token(server, remote, {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"}).status_code == 200
            assert _refused(_token(server, remote, {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}))
            assert _refused(_token(server, remote))  # no header: the proxy itself is the caller
            assert _refused(_token(server, local, XFF))  # the real client is not local any more
            assert _token(server, local).status_code == 200
            events = server.cli("audit", "list", "--kind", "client.address_refused")["data"]
            assert [(e["client_id"], e["ip"]) for e in events] == [
                (remote["username"], "127.0.0.1"), (remote["username"], "127.0.0.1"),
                (remote["username"], "198.51.100.1"), (remote["username"], "127.0.0.1"),
                (local["username"], "203.0.113.7")]
        finally:
            server.stop()
        log = server.log()
        assert "ip=203.0.113.7" in log and "ip=198.51.100.1" in log
        assert remote["password"] not in log and local["password"] not in log and token not in log
