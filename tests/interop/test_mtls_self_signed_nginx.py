"""``self_signed_tls_client_auth`` (RFC 8705 §2.2) through a real nginx (Debian ``nginx-light``) that forwards
unverified certificates too (``ssl_verify_client optional_no_ca``) with its verification result
(``$ssl_client_verify`` in ``X-SSL-Client-Verify``, ``KEYTURN_MTLS_VERIFY_HEADER``): docs/fapi2.md's second
configuration. One server block serves both kinds of client: a ``tls_client_auth`` client's certificate must be
verified by nginx against the CA (``SUCCESS``), a self-signed client's must be one it registered.

Certificates are made by the test with ``cryptography``; the browser part of the code flow talks to Keyturn
directly (it needs no certificate).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from keyturn.core.mtls import thumbprint
from tests.certs import authority, issue, self_signed
from tests.mtls_front import CERT_HEADER, VERIFY_HEADER, nginx_front, tls_client
from tests.oidc.helpers import REDIRECT, pkce_pair
from tests.server import LiveServer, free_port, live_database, start_server

pytestmark = pytest.mark.server
DN = "CN=till-1,O=Keyturn Tests,C=NZ"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("pki-self")
    ca = authority()
    made: dict[str, Any] = {"dir": d, "ca": ca, "ca_pem": str(d / "ca.pem")}
    (d / "ca.pem").write_bytes(ca.pem)
    made["server"] = issue(ca, "localhost", server=True)
    made["till"] = issue(ca, "till-1")  # a tls_client_auth client's, from the CA nginx verifies against
    made["mine"] = self_signed("app-1")  # the self-signed client's registered certificate
    made["forged"] = self_signed("till-1")  # anyone's self-made certificate with the till's subject DN
    made["stranger"] = self_signed("app-1")  # the self-signed client's subject, not its certificate
    for name in ("till", "mine", "forged", "stranger"):
        made[name + "-files"] = made[name].write(d, name)
    return made


@pytest.fixture(scope="module")
def stack(pki: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("mtls-self")
    with live_database("sqlite", work) as db:
        server = start_server(db, work, env_extra={"KEYTURN_TRUSTED_PROXIES": "127.0.0.1",
                                                   "KEYTURN_MTLS_CERT_HEADER": CERT_HEADER,
                                                   "KEYTURN_MTLS_VERIFY_HEADER": VERIFY_HEADER,
                                                   "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        try:
            with nginx_front(work, free_port(), server.url, pki["ca"], pki["server"], verify="optional_no_ca") as url:
                yield {"server": server, "url": url, "work": work}
        finally:
            server.stop()


_client = tls_client


@pytest.fixture(scope="module")
def app(stack: dict[str, Any], pki: dict[str, Any]) -> dict[str, Any]:
    """A self-signed client registered with the CLI (``--jwks`` holding its certificate) and a person."""
    server: LiveServer = stack["server"]
    jwks = stack["work"] / "jwks.json"
    jwks.write_text(json.dumps({"keys": [pki["mine"].jwk("app-1")]}))
    made = server.cli("clients", "create", "--name", "Self-signed app", "--confidential", "--first-party",
                      "--redirect-uri", REDIRECT, "--token-endpoint-auth-method", "self_signed_tls_client_auth",
                      "--jwks", str(jwks), "--tls-client-certificate-bound-access-tokens")
    assert made["token_endpoint_auth_method"] == "self_signed_tls_client_auth" and "client_secret" not in made
    email = f"person-{uuid.uuid4().hex[:6]}@example.test"
    server.cli("users", "create", "--email", email, "--password", PASSWORD)
    return {"client_id": made["client_id"], "email": email}


def _push(stack: dict[str, Any], pki: dict[str, Any], client_id: str, cert: str | None,
          challenge: str) -> httpx.Response:
    with _client(pki, cert) as c:
        return c.post(f"{stack['url']}/par", data={
            "client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
            "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})


def _sign_in(stack: dict[str, Any], client_id: str, request_uri: str, email: str) -> str:
    """The browser's part, straight to Keyturn: /authorize with the request_uri, the login form; the code."""
    base = stack["server"].url
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as browser:
        r = browser.get("/authorize", params={"client_id": client_id, "request_uri": request_uri})
        while r.headers["location"].startswith("/interaction/"):
            page = browser.get(r.headers["location"])
            assert page.status_code == 200, page.text
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            assert action is not None, page.text
            hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            r = browser.post(action.group(1), data={**hidden, "username": email, "password": PASSWORD,
                                                    "decision": "allow"})
            assert r.status_code == 303, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["code"][0]


def test_discovery_lists_self_signed(stack, pki):
    with _client(pki, None) as c:
        meta = c.get(f"{stack['url']}/.well-known/openid-configuration").json()
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(meta["token_endpoint_auth_methods_supported"])


def test_a_self_signed_client_gets_a_certificate_bound_token(stack, pki, app):
    verifier, challenge = pkce_pair()
    r = _push(stack, pki, app["client_id"], "mine", challenge)
    assert r.status_code == 201, r.text
    code = _sign_in(stack, app["client_id"], r.json()["request_uri"], app["email"])
    with _client(pki, "mine") as c:
        r = c.post(f"{stack['url']}/token", data={"grant_type": "authorization_code", "code": code,
                                                  "code_verifier": verifier, "redirect_uri": REDIRECT,
                                                  "client_id": app["client_id"]})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        x5t = thumbprint(pki["mine"].cert)
        assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"x5t#S256": x5t}
        r = c.post(f"{stack['url']}/introspect", data={"token": token, "client_id": app["client_id"]})
        assert r.status_code == 200 and r.json()["cnf"] == {"x5t#S256": x5t}, r.text
        assert c.get(f"{stack['url']}/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with _client(pki, "stranger") as c:  # the bound token with another certificate
        r = c.get(f"{stack['url']}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text


def test_a_certificate_the_client_did_not_register_is_refused(stack, pki, app):
    for name in ("stranger", "till", None):  # its subject on another key; a CA-verified one; none
        r = _push(stack, pki, app["client_id"], name, pkce_pair()[1])
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


@pytest.fixture(scope="module")
def till(stack: dict[str, Any], pki: dict[str, Any]) -> str:
    """A tls_client_auth credential (client credentials) whose certificate comes from nginx's CA."""
    server: LiveServer = stack["server"]
    email = f"merchant-{uuid.uuid4().hex[:6]}@example.test"
    server.cli("users", "create", "--email", email, "--password", PASSWORD)
    token = server.cli("tokens", "issue", "--user", email, "--lifetime", "900")["access_token"]
    with _client(pki, None) as c:
        r = c.post(f"{stack['url']}/api/v2/credential", headers={"Authorization": f"Bearer {token}"},
                   json={"name": "till", "token_endpoint_auth_method": "tls_client_auth",
                         "tls_client_auth_subject_dn": DN, "tls_client_certificate_bound_access_tokens": True})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return str(data.get("client_id") or data["username"])


def test_tls_client_auth_needs_nginxs_verification(stack, pki, till):
    """A self-made certificate with the till's subject DN passes nginx (optional_no_ca) but not Keyturn."""
    for name, status in (("till", 200), ("forged", 401)):
        with _client(pki, name) as c:
            r = c.post(f"{stack['url']}/token", data={"grant_type": "client_credentials", "client_id": till})
        assert r.status_code == status, r.text
    assert r.json()["error"] == "invalid_client"
