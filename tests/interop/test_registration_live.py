"""RFC 7591 registration through ``keyturn serve --demo`` (what ``make demo`` runs), on SQLite and PostgreSQL:
the demo prints an initial access token; a client registers with it over HTTP, then a client library nobody
here wrote (Authlib's OAuth2Session) runs the code flow with the registered client_secret_basic client; the
registration is read back (RFC 7592); and seed 000's credential endpoint takes RFC 7591 names."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from keyturn.services.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.server import KEYTURN, free_port, live_database

pytestmark = pytest.mark.server
REDIRECT = "http://127.0.0.1:18399/callback"


@pytest.fixture(params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import os
    with live_database(request.param, tmp_path) as db:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
        env.update({"KEYTURN_ENVIRONMENT": "development", "KEYTURN_DATABASE_URL": db})  # as `make demo`
        out = tmp_path / "demo.out"
        with open(out, "wb") as sink:
            proc = subprocess.Popen([KEYTURN, "serve", "--demo", "--port", str(port)], env=env, cwd=tmp_path,
                                    stdout=sink, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert proc.poll() is None, out.read_text()
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            text = out.read_text()
            printed = json.loads(text[text.index("{\n"):text.index("\n}\n") + 2])
            yield url, printed
        finally:
            proc.terminate()
            proc.wait(10)


def _browser(url: str) -> str:
    """What a person does in a browser: log in, allow on the consent page; the callback URL."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        r = browser.get(url)
        assert r.status_code == 303, r.text
        for fields in ({"username": DEMO_EMAIL, "password": DEMO_PASSWORD}, {"decision": "allow"}):
            page = browser.get(str(r.url.join(r.headers["location"])))
            assert page.status_code == 200, page.text
            action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            r = browser.post(str(page.url.join(action)), data={**hidden, **fields})
            assert r.status_code == 303, r.text
            if not r.headers["location"].startswith("/interaction/"):
                return str(r.headers["location"])
        raise AssertionError("no callback")


def test_demo_registration_then_authlib_code_flow(demo):
    url, printed = demo
    meta = httpx.get(f"{url}/.well-known/openid-configuration").json()
    assert meta["registration_endpoint"] == f"{url}/register"
    assert "curl -s -X POST" in printed["try"]["register"]
    token = printed["registration"]["initial_access_token"]
    r = httpx.post(meta["registration_endpoint"], headers={"Authorization": f"Bearer {token}"},
                   json={"client_name": "Authlib RP", "redirect_uris": ["http://127.0.0.1/callback"],
                         "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email"})
    assert r.status_code == 201, r.text
    reg = r.json()

    session = OAuth2Session(reg["client_id"], reg["client_secret"], redirect_uri=REDIRECT, scope="openid email",
                            code_challenge_method="S256", token_endpoint_auth_method=reg["token_endpoint_auth_method"])
    verifier = generate_token(64)
    auth_url, _ = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                   nonce="n-dcr")
    callback = _browser(auth_url)
    assert callback.startswith(REDIRECT)
    tokens = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"] and tokens["id_token"]
    assert session.get(meta["userinfo_endpoint"]).json()["email"] == DEMO_EMAIL

    bearer = {"Authorization": f"Bearer {reg['registration_access_token']}"}
    r = httpx.get(reg["registration_client_uri"], headers=bearer)
    assert r.status_code == 200 and r.json()["client_name"] == "Authlib RP"

    user = {"Authorization": f"Bearer {printed['user_access_token']}"}
    r = httpx.post(f"{url}/api/v2/credential", headers=user,
                   json={"client_name": "my.app.cu", "scope": "ALLOW_EXTERNAL_CHARGE",
                         "grant_types": ["client_credentials"]})
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["client_id"] == d["username"] and d["client_secret"] == d["password"]
    body = {"grant_type": "client_credentials", "client_id": d["client_id"], "client_secret": d["client_secret"]}
    r = httpx.post(f"{url}/api/v2/access/token", json=body)
    assert r.status_code == 200, r.text
