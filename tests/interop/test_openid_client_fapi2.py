"""A relying party nobody here wrote, OpenID-certified: openid-client 6 (panva) runs the whole FAPI 2.0 flow against a
live ``keyturn serve`` (tests/js/fapi2/fapi2_flow.mjs; docs/fapi2.md, "What an integrator's client sends").

1. ``private_key_jwt`` (an ES256 key the test makes, registered inline with ``--jwks``) and DPoP-bound tokens, on
   SQLite and PostgreSQL: PAR → the hosted login → code (RFC 9207 ``iss`` checked by openid-client, which also
   refuses a forged one) → token with a DPoP proof (``token_type`` DPoP, ``cnf.jkt`` the proof key's) → userinfo
   with DPoP → refresh with DPoP → userinfo again. ID token ES256, its iss/aud/nonce checked by openid-client.
2. The same client with ``tls_client_auth`` behind a real nginx (tests/interop/test_mtls_nginx.py's configuration,
   the issuer being nginx's https URL): every request, the login included, through nginx; tokens bound by
   ``cnf.x5t#S256``.

The refresh step accepts a rotated refresh token (then the old one is refused) or the same one (then it works
twice): FAPI 2.0 clients may be exempted from rotation (§5.3.2.1).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import ECAlgorithm

from keyturn.core.mtls import thumbprint
from tests.assertion_keys import KeyPair, form
from tests.certs import authority, issue
from tests.conftest import IN_CI
from tests.dpop_keys import DPoPKey
from tests.interop.test_authlib_code_flow import PASSWORD, _browser_login
from tests.mtls_front import CERT_HEADER
from tests.mtls_front import nginx_front as proxy
from tests.server import LiveServer, free_port, live_database, start_server

pytestmark = pytest.mark.server
JS = Path(__file__).resolve().parents[1] / "js"
REDIRECT = "http://127.0.0.1:18399/callback"
DN = "CN=fapi2-app,O=Keyturn Tests,C=NZ"


def create_fapi2_client(server: LiveServer, name: str, *authentication: str) -> dict[str, Any]:
    """The one place listing the CLI flags of a FAPI 2.0 client: confidential, PAR required, ES256 ID tokens, and
    ``authentication`` (its key-based client authentication and sender-constraining)."""
    rp: dict[str, Any] = server.cli(
        "clients", "create", "--confidential", "--first-party", "--name", name,
        "--redirect-uri", "http://127.0.0.1/callback", "--scope", "openid email", "--id-token-alg", "ES256",
        "--require-pushed-authorization-requests", "--fapi2", *authentication)
    assert "client_secret" not in rp, rp
    return rp


def _node(env: dict[str, str], callback_for: Callable[[dict[str, Any]], str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One openid-client process: its first line (the pushed request's authorization URL), the callback URL the
    sign-in gives (``callback_for``) on its stdin, its last line (what the rest of the flow got)."""
    if shutil.which("node") is None or not (JS / "node_modules" / "openid-client").is_dir():
        message = "node or tests/js/node_modules missing: run scripts/test-deps.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with subprocess.Popen(["node", str(JS / "fapi2" / "fapi2_flow.mjs")], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=JS,
                          env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env}) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = proc.stdout.readline()
            assert line, proc.communicate(timeout=30)[1]
            started: dict[str, Any] = json.loads(line)
            out, err = proc.communicate(callback_for(started) + "\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
    return started, json.loads(out)


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _flow(issuer: str, env: dict[str, str], email: str, verify: ssl.SSLContext | bool = True) -> dict[str, Any]:
    """PAR → the hosted login → the rest of the flow; the checks common to both configurations."""
    def sign_in(started: dict[str, Any]) -> str:
        url = httpx.URL(started["url"])
        assert url.path == "/authorize" and set(url.params) == {"client_id", "request_uri"}
        assert url.params["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        callback = _browser_login(started["url"], email, verify)
        assert callback.startswith(REDIRECT)
        params = httpx.URL(callback).params
        assert params["iss"] == issuer and params["state"] == started["state"] and "code" in params  # RFC 9207
        return callback

    started, done = _node({"KEYTURN_URL": issuer, "REDIRECT_URI": REDIRECT, **env}, sign_in)
    # openid-client refused the callback carrying another iss (RFC 9207 §2.4) before redeeming the code
    forged = done["forged_iss"]
    assert forged is not None and forged["cause"]["message"] == 'unexpected "iss" (issuer) response parameter value'
    assert forged["cause"]["code"] == "OAUTH_INVALID_RESPONSE", forged
    token, claims = done["token"], done["claims"]
    assert set(token["scope"].split()) == {"openid", "email"} and token["refresh_token"]
    assert jwt.get_unverified_header(token["id_token"])["alg"] == "ES256"
    assert claims["iss"] == issuer and claims["aud"] == env["CLIENT_ID"] and claims["nonce"] == started["nonce"]
    assert claims["email"] == email
    for info in (done["userinfo"], done["userinfo_after"]):
        assert info["sub"] == claims["sub"] and info["email"] == email
    assert done["refreshed"]["access_token"] != token["access_token"]
    # The same authorization URL again: spent (a page, never a redirect)
    with httpx.Client(verify=verify) as c:
        again = c.get(started["url"])
    assert again.status_code == 400 and "already used" in again.text
    return done


def _check_refresh_rotation(done: dict[str, Any], refresh: Callable[[str], httpx.Response]) -> None:
    """A rotated refresh token: the old one is refused. The same one back: it works twice."""
    first, second = done["token"]["refresh_token"], done["refreshed"]["refresh_token"]
    if second is not None and second != first:
        old = refresh(first)
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant", old.text
    else:
        for _ in range(2):
            r = refresh(first)
            assert r.status_code == 200, r.text


def _private_jwk(key: Any, kid: str | None = None) -> str:
    jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    return json.dumps({**jwk, **({"kid": kid} if kid else {})})


def test_openid_client_6_fapi2_with_private_key_jwt_and_dpop(live_server: LiveServer, tmp_path: Path) -> None:
    pair, dpop = KeyPair("ES256", kid="fapi2-app-1"), DPoPKey("ES256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(pair.jwks))
    live_server.cli("users", "create", "--email", "fapi2@example.test", "--password", PASSWORD, "--verified")
    rp = create_fapi2_client(live_server, "FAPI 2.0 app", "--token-endpoint-auth-method", "private_key_jwt",
                             "--jwks", str(jwks), "--dpop-bound-access-tokens")
    assert rp["token_endpoint_auth_method"] == "private_key_jwt" and rp["dpop_bound_access_tokens"] is True
    env = {"MODE": "dpop", "CLIENT_ID": rp["client_id"], "CLIENT_KEY": _private_jwk(pair.private, pair.kid),
           "DPOP_KEY": _private_jwk(dpop.private)}
    done = _flow(live_server.url, env, "fapi2@example.test")
    for answer in (done["token"], done["refreshed"]):
        assert answer["token_type"].lower() == "dpop"  # openid-client normalises the case
        assert _claims(answer["access_token"])["cnf"] == {"jkt": dpop.jkt}

    token_url = f"{live_server.url}/token"

    def refresh(refresh_token: str) -> httpx.Response:
        assertion = pair.assertion(rp["client_id"], aud=live_server.url)
        return httpx.post(token_url, headers={"DPoP": dpop.proof("POST", token_url)},
                          data=form(rp["client_id"], assertion, grant_type="refresh_token",
                                    refresh_token=refresh_token))
    _check_refresh_rotation(done, refresh)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = authority()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    made: dict[str, Any] = {"ca": ca, "ca_pem": str(tmp_path / "ca.pem"), "server": issue(ca, "localhost", server=True),
                            "client": issue(ca, "fapi2-app")}
    made["client-files"] = made["client"].write(tmp_path, "client")
    return made


@pytest.fixture
def nginx_front(pki: dict[str, Any], tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """A live server whose issuer is nginx's https URL, nginx verifying client certificates against the test CA."""
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    with live_database("sqlite", tmp_path) as db:
        server = start_server(db, tmp_path, env_extra={
            "KEYTURN_ISSUER": issuer, "KEYTURN_TRUSTED_PROXIES": "127.0.0.1", "KEYTURN_MTLS_CERT_HEADER": CERT_HEADER,
            "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        try:
            with proxy(tmp_path, port, server.url, pki["ca"], pki["server"]) as url:
                assert url == issuer
                yield server, issuer
        finally:
            server.stop()


def test_openid_client_6_fapi2_with_tls_client_auth_behind_nginx(nginx_front: tuple[LiveServer, str],
                                                                  pki: dict[str, Any]) -> None:
    server, issuer = nginx_front
    server.cli("users", "create", "--email", "mtls@example.test", "--password", PASSWORD, "--verified")
    rp = create_fapi2_client(server, "FAPI 2.0 mTLS app", "--tls-client-auth-subject-dn", DN,
                             "--tls-client-certificate-bound-access-tokens")
    assert rp["token_endpoint_auth_method"] == "tls_client_auth"
    cert, key = pki["client-files"]
    env = {"MODE": "mtls", "CLIENT_ID": rp["client_id"], "TLS_CERT": cert, "TLS_KEY": key, "TLS_CA": pki["ca_pem"]}
    browser = ssl.create_default_context(cafile=pki["ca_pem"])  # the person's browser: no client certificate
    done = _flow(issuer, env, "mtls@example.test", browser)
    x5t = thumbprint(pki["client"].cert)
    for answer in (done["token"], done["refreshed"]):
        assert answer["token_type"].lower() == "bearer"
        assert _claims(answer["access_token"])["cnf"] == {"x5t#S256": x5t}

    with_cert = ssl.create_default_context(cafile=pki["ca_pem"])
    with_cert.load_cert_chain(cert, key)
    # the bound token through nginx without the certificate: refused at userinfo
    with httpx.Client(verify=browser) as c:
        r = c.get(f"{issuer}/userinfo", headers={"Authorization": f"Bearer {done['refreshed']['access_token']}"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"], r.text

    def refresh(refresh_token: str) -> httpx.Response:
        with httpx.Client(verify=with_cert) as c:
            return c.post(f"{issuer}/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                                   "refresh_token": refresh_token})
    _check_refresh_rotation(done, refresh)
