"""mTLS (RFC 8705) through a real nginx (Debian ``nginx-light``) terminating TLS with client certificates.

The test makes a CA, nginx's server certificate and two client certificates with ``cryptography``; nginx
(its own prefix, non-root, 127.0.0.1) verifies the client certificate against the CA (``ssl_verify_client
optional``) and forwards it URL-encoded (``$ssl_client_escaped_cert``) to a live ``keyturn serve`` that trusts
127.0.0.1 as its proxy. The nginx configuration is the one docs/fapi2.md shows. The untrusted-peer case is
in tests/flows/test_mtls.py (here 127.0.0.1 is the trusted proxy).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from keyturn.core.mtls import thumbprint
from tests.certs import authority, issue
from tests.mtls_front import CERT_HEADER, nginx_front, tls_client
from tests.server import LiveServer, free_port, live_database, start_server

pytestmark = pytest.mark.server
HEADER = CERT_HEADER
DN = "CN=client-1,O=Keyturn Tests,C=NZ"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("pki")
    ca = authority()
    made: dict[str, Any] = {"dir": d, "ca": ca, "ca_pem": str(d / "ca.pem")}
    (d / "ca.pem").write_bytes(ca.pem)
    made["server"] = issue(ca, "localhost", server=True)
    for name in ("client-1", "client-2"):
        made[name] = issue(ca, name)
        made[name + "-files"] = made[name].write(d, name)
    stranger = issue(authority("Another CA"), "client-1")  # the right subject, from a CA nginx does not trust
    made["stranger-files"] = stranger.write(d, "stranger")
    return made


@pytest.fixture(scope="module")
def stack(pki: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("mtls")
    with live_database("sqlite", work) as db:
        server = start_server(db, work, env_extra={"KEYTURN_TRUSTED_PROXIES": "127.0.0.1",
                                                   "KEYTURN_MTLS_CERT_HEADER": HEADER,
                                                   "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        try:
            with nginx_front(work, free_port(), server.url, pki["ca"], pki["server"]) as url:
                yield {"server": server, "url": url}
        finally:
            server.stop()


_client = tls_client


@pytest.fixture(scope="module")
def credential(stack: dict[str, Any], pki: dict[str, Any]) -> dict[str, Any]:
    server: LiveServer = stack["server"]
    email = f"merchant-{uuid.uuid4().hex[:6]}@example.test"
    server.cli("users", "create", "--email", email, "--password", "correct horse battery")
    token = server.cli("tokens", "issue", "--user", email, "--lifetime", "900")["access_token"]
    with _client(pki, None) as c:
        r = c.post(f"{stack['url']}/api/v2/credential", headers={"Authorization": f"Bearer {token}"},
                   json={"name": "till", "token_endpoint_auth_method": "tls_client_auth",
                         "tls_client_auth_subject_dn": DN, "tls_client_certificate_bound_access_tokens": True})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return {"client_id": data.get("client_id") or data["username"]}


def _token(stack: dict[str, Any], pki: dict[str, Any], client_id: str, name: str | None) -> httpx.Response:
    with _client(pki, name) as c:
        return c.post(f"{stack['url']}/token", data={"grant_type": "client_credentials", "client_id": client_id})


def test_discovery_through_nginx_advertises_mtls(stack, pki):
    with _client(pki, None) as c:
        meta = c.get(f"{stack['url']}/.well-known/openid-configuration").json()
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]


def test_tls_client_auth_through_nginx_gets_a_certificate_bound_token(stack, pki, credential):
    r = _token(stack, pki, credential["client_id"], "client-1")
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    x5t = thumbprint(pki["client-1"].cert)
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"x5t#S256": x5t}
    with _client(pki, "client-1") as c:
        r = c.post(f"{stack['url']}/introspect", data={"token": token, "client_id": credential["client_id"]})
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True and r.json()["cnf"] == {"x5t#S256": x5t}
        ok = c.get(f"{stack['url']}/api/account-memberships", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
    for name in ("client-2", None):  # another certificate of the same CA; none at all
        with _client(pki, name) as c:
            r = c.get(f"{stack['url']}/api/account-memberships", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_another_certificate_or_none_does_not_authenticate(stack, pki, credential):
    for name in ("client-2", None):
        r = _token(stack, pki, credential["client_id"], name)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


def test_nginx_refuses_a_certificate_from_an_untrusted_ca(stack, pki, credential):
    r = _token(stack, pki, credential["client_id"], "stranger")  # nginx's verification, before Keyturn
    assert r.status_code == 400 and "certificate" in r.text.lower()
