"""A real nginx protects an upstream with /auth/forward; a custom policy adds a `cashier` role with no code change.

One `keyturn serve` (SQLite) runs with KEYTURN_POLICY_FILE pointing at the default policy plus a cashier
role; nginx (Debian `nginx-light`) runs as a non-daemon subprocess with its own prefix on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from keyturn.services.policy_file import DEFAULT_POLICY
from tests.access.conftest import cli, curl
from tests.server import KEYTURN

pytestmark = pytest.mark.server
IN_CI = os.environ.get("CI", "").lower() == "true"
CASHIER_POLICY = Path(tempfile.mkdtemp(prefix="keyturn-policy-")) / "cashier.yaml"
CASHIER_POLICY.write_text(
    DEFAULT_POLICY.read_text().replace(
        "    assigns: [account-owner, anon-consumer, merchant-terminal]",
        "    assigns: [account-owner, anon-consumer, merchant-terminal, cashier]",
    )
    + """\
  cashier:
    description: Takes payments at a till; cannot refund.
    permissions: [payment-requests:create, payment-requests:read]
"""
)
SERVER_ENV = {"KEYTURN_POLICY_FILE": str(CASHIER_POLICY)}
UPSTREAM_PORT, NGINX_PORT = 18231, 18232


@pytest.fixture(scope="module")
def setup(sqlite_live_server):
    s = sqlite_live_server
    cli(s, "users", "create", "--email", "owner@example.test", "--password", "correct horse battery")
    org = cli(s, "accounts", "create", "--name", "Corner Shop", "--owner", "owner@example.test")
    cashier = cli(s, "api-keys", "create", "--account", org["id"], "--name", "till", "--role", "cashier")
    terminal = cli(
        s, "api-keys", "create", "--account", org["id"], "--name", "pos", "--role", "merchant-terminal"
    )
    token = cli(s, "tokens", "issue", "--user", "owner@example.test")["access_token"]
    return {
        "server": s,
        "org": org,
        "cashier": cashier["secret"],
        "terminal": terminal["secret"],
        "token": token,
    }


def test_the_cashier_role_works_end_to_end(setup):
    s, org = setup["server"], setup["org"]
    h = ["-H", f"X-Api-Key: {setup['cashier']}", "-H", "Content-Type: application/json"]
    status, body, _ = curl(f"{s.url}/api/account-memberships", *h)
    assert status == 200 and body[0]["role"] == "cashier"
    for permission, allowed in (
        ("payment-requests:create", True),
        ("payment-requests:refund", False),
        ("api-keys:create", False),
    ):
        status, body, _ = curl(
            "-X",
            "POST",
            f"{s.url}/api/authorize",
            *h,
            "-d",
            f'{{"permission": "{permission}", "accountId": "{org["id"]}"}}',
        )
        assert status == (200 if allowed else 403) and body["allowed"] is allowed, body  # issue 9.1: a no is a 403
        assert body["principal"]["kind"] == "api_key" and body["principal"]["role"] == "cashier"
    # The owner hires a cashier over HTTP too; a cashier cannot hire anyone.
    cli(s, "users", "create", "--email", "clerk@example.test", "--password", "correct horse battery")
    owner_h = ["-H", f"Authorization: {setup['token']}", "-H", "Content-Type: application/json"]
    status, body, _ = curl(
        "-X",
        "POST",
        f"{s.url}/api/accounts/{org['id']}/members",
        *owner_h,
        "-d",
        '{"user": "clerk@example.test", "role": "cashier"}',
    )
    assert status == 201 and body["role"] == "cashier"
    status, body, _ = curl(
        "-X",
        "POST",
        f"{s.url}/api/accounts/{org['id']}/api-keys",
        *h,
        "-d",
        '{"name": "mine", "role": "cashier"}',
    )
    assert status == 403 and body["message"] == "missing permission api-keys:create"


def test_cli_errors_are_json_and_write_nothing(setup):
    s, org = setup["server"], setup["org"]
    res = subprocess.run(
        [KEYTURN, "api-keys", "create", "--account", org["id"], "--name", "x", "--role", "root", "--json"],
        env=s.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and '"INVALID_ROLE"' in res.stderr
    names = sorted(k["name"] for k in cli(s, "api-keys", "list", "--account", org["id"]))
    assert {"pos", "till"} <= set(names) and "x" not in names


def test_a_disabled_key_is_refused_by_the_running_server(setup):
    s, org = setup["server"], setup["org"]
    key = cli(s, "api-keys", "create", "--account", org["id"], "--name", "till-2", "--role", "cashier")
    assert curl(f"{s.url}/api/account-memberships", "-H", f"X-Api-Key: {key['secret']}")[0] == 200
    out = cli(s, "api-keys", "disable", "--account", org["id"], "--name", "till-2")
    assert out["enabled"] is False and "secret" not in out
    time.sleep(1.1)  # client_cache_ttl (1 s): how long a disable takes to reach a worker
    status, body, head = curl(f"{s.url}/api/account-memberships", "-H", f"X-Api-Key: {key['secret']}")
    assert status == 401 and 'error="invalid_token"' in head
    assert body["message"] == "The API key is invalid or disabled"
    assert key["secret"] not in s.log()
    cli(s, "users", "create", "--email", "lead@example.test", "--password", "correct horse battery")
    m = cli(s, "members", "add", "--account", org["id"], "--user", "lead@example.test", "--role", "cashier")
    assert m["role"] == "cashier"


# ---- nginx ------------------------------------------------------------------------------------


class Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = (
            f"hello {self.headers.get('X-Keyturn-Subject')} kind={self.headers.get('X-Keyturn-Principal-Kind')} "
            f"account={self.headers.get('X-Keyturn-Account')} role={self.headers.get('X-Keyturn-Role')}"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def nginx_conf(keyturn_url: str, prefix: Path) -> str:
    """The configuration documented in docs/forward-auth.md, with test ports and a temp prefix."""
    return f"""
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  upstream payments_api {{ server 127.0.0.1:{UPSTREAM_PORT}; }}
  server {{
    listen 127.0.0.1:{NGINX_PORT};
    location = /_keyturn_auth {{
      internal;
      proxy_pass {keyturn_url}/auth/forward;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Api-Key $http_x_api_key;
      proxy_set_header Authorization $http_authorization;
      proxy_set_header X-Keyturn-Account $http_x_keyturn_account;
      proxy_set_header X-Keyturn-Permission $keyturn_permission;
    }}
    location /payment-requests {{
      set $keyturn_permission "payment-requests:create";
      auth_request /_keyturn_auth;
      auth_request_set $kt_subject $upstream_http_x_keyturn_subject;
      auth_request_set $kt_kind $upstream_http_x_keyturn_principal_kind;
      auth_request_set $kt_account $upstream_http_x_keyturn_account;
      auth_request_set $kt_role $upstream_http_x_keyturn_role;
      auth_request_set $kt_challenge $upstream_http_www_authenticate;
      proxy_set_header X-Keyturn-Subject $kt_subject;
      proxy_set_header X-Keyturn-Principal-Kind $kt_kind;
      proxy_set_header X-Keyturn-Account $kt_account;
      proxy_set_header X-Keyturn-Role $kt_role;
      proxy_set_header X-Api-Key "";
      proxy_pass http://payments_api;
    }}
    location /refunds {{
      set $keyturn_permission "payment-requests:refund";
      auth_request /_keyturn_auth;
      proxy_pass http://payments_api;
    }}
    error_page 401 = @unauthorized;
    location @unauthorized {{
      add_header WWW-Authenticate $kt_challenge always;
      return 401 '{{"status":"ERROR","error":"UNAUTHORIZED"}}';
    }}
  }}
}}
"""


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


def _nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def gateway(setup, tmp_path_factory):
    binary = _nginx_binary()
    prefix = tmp_path_factory.mktemp("nginx")
    upstream = ThreadingHTTPServer(("127.0.0.1", UPSTREAM_PORT), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(setup["server"].url, prefix))
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_port(NGINX_PORT, proc)
        yield f"http://127.0.0.1:{NGINX_PORT}"
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.shutdown()
        upstream.server_close()


def test_nginx_lets_an_allowed_key_through_with_identity_headers(setup, gateway):
    status, body, _ = curl(f"{gateway}/payment-requests", "-H", f"X-Api-Key: {setup['terminal']}")
    assert status == 200, body
    assert body.startswith("hello ") and "kind=api_key" in body
    assert f"account={setup['org']['id']}" in body and "role=merchant-terminal" in body


def test_nginx_refuses_a_key_without_the_permission(setup, gateway):
    status, _, _ = curl(f"{gateway}/refunds", "-H", f"X-Api-Key: {setup['cashier']}")
    assert status == 403
    status, body, _ = curl(f"{gateway}/refunds", "-H", f"X-Api-Key: {setup['terminal']}")
    assert status == 200


def test_nginx_refuses_missing_bad_and_ambiguous_credentials(setup, gateway):
    for headers in (
        [],
        ["-H", "X-Api-Key: kt_live_nonsense"],
        ["-H", "Authorization: Bearer not.a.jwt"],
        ["-H", f"X-Api-Key: {setup['terminal']}", "-H", f"Authorization: {setup['token']}"],
    ):
        status, _, head = curl(f"{gateway}/payment-requests", *headers)
        assert status == 401, headers
        assert "www-authenticate: bearer" in head.lower()


def test_nginx_with_a_user_token_and_account_selection(setup, gateway):
    org = setup["org"]["id"]
    # The owner lacks payment-requests:create in the seed's table: 403, whichever account is selected.
    status, _, _ = curl(
        f"{gateway}/payment-requests",
        "-H",
        f"Authorization: {setup['token']}",
        "-H",
        f"X-Keyturn-Account: {org}",
    )
    assert status == 403
