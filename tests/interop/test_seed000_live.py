"""Seed 000 end to end against a real ``keyturn serve``: the seed's two axios scripts run by Node
exactly as written, Authlib and requests-oauthlib fetching tokens, PyJWT verifying them from the
published JWKS, ``keyturn keys rotate`` keeping old tokens verifiable, and a log free of secrets.
One server per database for the whole module (a start costs seconds)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import jwt
import pytest

from tests.server import LiveServer, live_database, start_server

JS = Path(__file__).resolve().parent.parent / "js"
SEED = JS / "seed000"
pytestmark = pytest.mark.server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("live")
    with live_database(request.param, workdir) as db:
        srv = start_server(db, workdir, env_extra={"KEYTURN_LOG_LEVEL": "DEBUG"})
        srv.extra["secrets"] = []
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def owner(server: LiveServer) -> dict[str, Any]:
    email = f"merchant-{uuid.uuid4().hex[:6]}@my.app.cu"
    user = server.cli("users", "create", "--email", email, "--password", "correct horse battery",
                      "--given-name", "Ana", "--family-name", "Diaz", "--username", email.split("@")[0])
    token = server.cli("tokens", "issue", "--user", email, "--lifetime", "900")["access_token"]
    server.extra["secrets"] += ["correct horse battery", token]
    return {"user": user, "token": token}


@pytest.fixture(scope="module")
def credential(server: LiveServer, owner: dict[str, Any]) -> dict[str, Any]:
    data = server.cli("credentials", "create", "--user", owner["user"]["id"], "--name", "interop",
                      "--scope", "ALLOW_EXTERNAL_CHARGE ALLOW_OTA_CHARGE", "--refresh", "1d")["data"]
    server.extra["secrets"].append(data["password"])
    return cast(dict[str, Any], data)


def _node(script: str, env: dict[str, str]) -> str:
    if shutil.which("node") is None or not (JS / "node_modules" / "axios").is_dir():
        pytest.skip("node or tests/js/node_modules missing: run scripts/test-deps.sh")
    res = subprocess.run(["node", str(SEED / script)], env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env},
                         capture_output=True, text=True, timeout=60, cwd=JS)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_seed_axios_examples_create_a_credential_then_get_a_token(server: LiveServer, owner: dict[str, Any]) -> None:
    out = _node("create_credential.js", {"KEYTURN_URL": server.url, "KEYTURN_USER_TOKEN": owner["token"]})
    assert "status: 'OK'" in out, out
    assert "domain: '.*tropipay.com.* www.my.app.cu *.localhost.*'" in out
    assert "prefix: 'Bearer'" in out and "refresh: '1d'" in out
    client_id = cast(re.Match[str], re.search(r"username: '([0-9a-f]{32})'", out)).group(1)
    secret = cast(re.Match[str], re.search(r"password: '([A-Za-z0-9_\-]{22,})'", out)).group(1)
    server.extra["secrets"].append(secret)
    out = _node("access_token.js", {"KEYTURN_URL": server.url, "TROPIPAY_CLIENT_ID": client_id,
                                    "TROPIPAY_CLIENT_SECRET": secret})
    assert "token_type: 'Bearer'" in out and "expires_in: 3600" in out, out
    assert "scope: 'ALLOW_EXTERNAL_CHARGE BLOCKED_MONEY_OUT ALLOW_OTA_CHARGE'" in out
    at = cast(re.Match[str], re.search(r"access_token: '([\w\-.]+)'", out)).group(1)
    rt = cast(re.Match[str], re.search(r"refresh_token: '(ktrt_[\w\-]+)'", out)).group(1)
    server.extra["secrets"] += [at, rt]
    claims = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json").get_signing_key_from_jwt(at)
    decoded = jwt.decode(at, claims.key, algorithms=["ES256"], audience=server.url, issuer=server.url)
    assert decoded["client_id"] == client_id


def test_seed_axios_token_request_with_a_wrong_secret_gets_invalid_client(server: LiveServer, credential) -> None:
    out = _node("access_token.js", {"KEYTURN_URL": server.url, "TROPIPAY_CLIENT_ID": credential["username"],
                                    "TROPIPAY_CLIENT_SECRET": "wrong"})
    assert "status: 401" in out and "invalid_client" in out


def _verify(server: LiveServer, token: str) -> dict[str, Any]:
    key = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json", cache_jwk_set=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["ES256", "RS256", "EdDSA"], audience=server.url,
                      issuer=server.url, options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]})


def test_authlib_sync_session_gets_a_token_that_pyjwt_verifies(server: LiveServer, credential) -> None:
    from authlib.integrations.requests_client import OAuth2Session
    with OAuth2Session(credential["username"], credential["password"], scope="ALLOW_OTA_CHARGE") as s:
        token = s.fetch_token(f"{server.url}/token", grant_type="client_credentials")
    server.extra["secrets"].append(token["access_token"])
    assert token["scope"] == "ALLOW_OTA_CHARGE" and token["token_type"] == "Bearer"
    claims = _verify(server, token["access_token"])
    assert claims["scope"] == "ALLOW_OTA_CHARGE" and claims["sub"] == credential["username"]
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"


@pytest.mark.filterwarnings("ignore:The httpx module is deprecated")  # Authlib 1.9 nudges to httpx2
async def test_authlib_async_client_with_client_secret_post(server: LiveServer, credential) -> None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    async with AsyncOAuth2Client(credential["username"], credential["password"],
                                 token_endpoint_auth_method="client_secret_post") as c:
        token = await c.fetch_token(f"{server.url}/api/v2/access/token", grant_type="client_credentials")
    server.extra["secrets"] += [token["access_token"], token["refresh_token"]]
    assert _verify(server, token["access_token"])["client_id"] == credential["username"]
    async with AsyncOAuth2Client(credential["username"], credential["password"]) as c:
        refreshed = await c.refresh_token(f"{server.url}/token", refresh_token=token["refresh_token"])
    server.extra["secrets"] += [refreshed["access_token"], refreshed["refresh_token"]]
    assert refreshed["refresh_token"] != token["refresh_token"]


def test_requests_oauthlib_backend_application_client(server: LiveServer, credential, monkeypatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib's switch for a laptop's http issuer
    from oauthlib.oauth2 import BackendApplicationClient
    from requests_oauthlib import OAuth2Session
    session = OAuth2Session(client=BackendApplicationClient(client_id=credential["username"]))
    token = session.fetch_token(token_url=f"{server.url}/token", client_id=credential["username"],
                                client_secret=credential["password"])
    server.extra["secrets"].append(token["access_token"])
    assert token["expires_in"] == 3600
    assert _verify(server, token["access_token"])["scope"] == "ALLOW_EXTERNAL_CHARGE ALLOW_OTA_CHARGE"


def test_discovery_lists_only_live_endpoints(server: LiveServer) -> None:
    meta = httpx.get(f"{server.url}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == server.url
    for name, value in meta.items():
        if name.endswith(("_endpoint", "_uri")) and isinstance(value, str):
            r = httpx.get(value)
            assert r.status_code != 404, (name, value)
    assert httpx.get(meta["jwks_uri"]).status_code == 200
    assert "password" not in meta["grant_types_supported"]


def test_keys_rotate_keeps_the_old_key_published_and_old_tokens_valid(server: LiveServer, credential) -> None:
    auth = (credential["username"], credential["password"])
    old = httpx.post(f"{server.url}/token", data={"grant_type": "client_credentials"}, auth=auth).json()
    server.extra["secrets"].append(old["access_token"])
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    rotated = server.cli("keys", "rotate")
    assert rotated["kid"] != old_kid and rotated["alg"] == "ES256"
    assert not any("private" in json.dumps(k).lower() or "pem" in k for k in rotated["keys"])
    deadline, kid = time.monotonic() + 12, old_kid
    while time.monotonic() < deadline:
        kids = {k["kid"] for k in httpx.get(f"{server.url}/.well-known/jwks.json").json()["keys"]}
        new = httpx.post(f"{server.url}/token", data={"grant_type": "client_credentials"}, auth=auth).json()
        server.extra["secrets"].append(new["access_token"])
        kid = jwt.get_unverified_header(new["access_token"])["kid"]
        if kid == rotated["kid"] and {old_kid, rotated["kid"]} <= kids:
            break
        time.sleep(0.5)
    assert kid == rotated["kid"], "the server did not start signing with the rotated key"
    assert {old_kid, rotated["kid"]} <= kids
    assert _verify(server, old["access_token"])["jti"]
    assert _verify(server, new["access_token"])["jti"]
    r = httpx.post(f"{server.url}/introspect", data={"token": old["access_token"]}, auth=auth).json()
    assert r["active"] is True
    listed = server.cli("keys", "list")
    assert {k["kid"] for k in listed if k["published"]} >= {old_kid, rotated["kid"]}


def test_zz_the_server_log_holds_no_secret_or_token(server: LiveServer) -> None:
    """R106: run last in this module; every secret and token the tests saw is absent from the log."""
    time.sleep(0.5)  # the access log is written in batches at most 0.25 s late
    log = server.log()
    assert re.search(r'"POST /token HTTP/1.1" 200 [0-9.]+ms client=', log), "no access-log line for /token"
    assert server.extra["secrets"]
    for secret in server.extra["secrets"]:
        assert secret not in log
