"""A client library nobody here wrote: openid-client 6 (panva) pushes its authorization request
(``buildAuthorizationUrlWithPAR``, RFC 9126) to a live ``keyturn serve``, on SQLite and PostgreSQL, for a
confidential client that must push (``client_secret_basic``), then redeems the code and checks the ID token."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.test_authlib_code_flow import PASSWORD, _browser_login

pytestmark = pytest.mark.server
JS = Path(__file__).resolve().parents[1] / "js"
REDIRECT = "http://127.0.0.1:18399/callback"


def _node(mode: str, env: dict[str, str]) -> dict[str, Any]:
    if shutil.which("node") is None or not (JS / "node_modules" / "openid-client").is_dir():
        pytest.skip("node or tests/js/node_modules missing: run scripts/test-deps.sh")
    res = subprocess.run(["node", str(JS / "par" / "par_flow.mjs"), mode], capture_output=True, text=True,
                         timeout=60, cwd=JS, env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_openid_client_6_pushes_its_request_and_redeems_the_code(live_server):
    live_server.cli("users", "create", "--email", "par@example.test", "--password", PASSWORD, "--verified")
    rp = live_server.cli("clients", "create", "--name", "FAPI app", "--confidential", "--first-party",
                         "--redirect-uri", "http://127.0.0.1/callback", "--require-pushed-authorization-requests")
    env = {"KEYTURN_URL": live_server.url, "CLIENT_ID": rp["client_id"], "CLIENT_SECRET": rp["client_secret"],
           "REDIRECT_URI": REDIRECT}
    started = _node("start", env)
    url = httpx.URL(started["url"])
    assert url.path == "/authorize" and set(url.params) == {"client_id", "request_uri"}
    assert url.params["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    callback = _browser_login(started["url"], "par@example.test")
    assert callback.startswith(REDIRECT)
    done = _node("finish", {**env, "CALLBACK": callback, "VERIFIER": started["verifier"],
                            "STATE": started["state"], "NONCE": started["nonce"]})
    assert done["token_type"].lower() == "bearer" and set(done["scope"].split()) == {"openid", "email"}
    assert done["claims"]["email"] == "par@example.test" and done["claims"]["nonce"] == started["nonce"]
    # The same authorization URL again: spent (a page, never a redirect)
    again = httpx.get(started["url"])
    assert again.status_code == 400 and "already used" in again.text
