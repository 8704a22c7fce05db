"""mTLS (RFC 8705) behind a TLS-terminating proxy, through the served front on SQLite and PostgreSQL.

The proxy's forwarded certificate (``KEYTURN_MTLS_CERT_HEADER``) is fabricated here and the peer address set
through the ASGI transport: 127.0.0.1 is the trusted proxy, 198.51.100.7 a client talking to Keyturn directly.
``tls_client_auth`` (§2.1) authenticates by the certificate's subject DN; tokens are bound to it
(``cnf.x5t#S256``, §3); introspection shows the binding; the management API, the decision endpoints,
/auth/forward and /userinfo accept a bound token only with the same certificate. tests/interop/test_mtls_nginx.py
runs the same through a real nginx.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from keyturn.core.mtls import thumbprint
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.certs import Issued, authority, issue
from tests.conftest import ISSUER
from tests.oidc.helpers import REDIRECT, authorize_code, make_client

HEADER = "X-SSL-Client-Cert"
DN = "CN=client-1,O=Keyturn Tests,C=NZ"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"mtls_cert_header": HEADER, "trusted_proxies": ("127.0.0.1/32",)}


@pytest.fixture(scope="module")
def ca() -> Issued:
    return authority()


@pytest.fixture(scope="module")
def cert(ca: Issued) -> Issued:
    return issue(ca, "client-1")


@pytest.fixture(scope="module")
def other(ca: Issued) -> Issued:
    return issue(ca, "client-2")


def via_proxy(cert: Issued | None) -> dict[str, str]:
    return {HEADER: cert.escaped} if cert is not None else {}


async def tls_credential(make_credential: Any, **body: Any) -> Any:
    body.setdefault("token_endpoint_auth_method", "tls_client_auth")
    body.setdefault("tls_client_auth_subject_dn", DN)
    body.setdefault("tls_client_certificate_bound_access_tokens", True)
    return await make_credential(refresh="none", **body)


async def tls_token(client: Any, cred: Any, cert: Issued) -> str:
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id},
                          headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    return str(r.json()["access_token"])


@pytest.fixture
async def direct(app_and_ctx: Any) -> Any:
    """A client talking to Keyturn directly (not a trusted proxy)."""
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


async def test_tls_client_auth_gets_a_certificate_bound_token(client, make_credential, cert):
    cred = await tls_credential(make_credential)
    token = await tls_token(client, cred, cert)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": thumbprint(cert.cert)}
    assert claims["client_id"] == cred.client_id


async def test_base64_der_is_read_too(client, make_credential, cert):
    cred = await tls_credential(make_credential)
    der = base64.b64encode(cert.cert.public_bytes(Encoding.DER)).decode()
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id},
                          headers={HEADER: der})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", ["none", "other-subject", "garbage", "two-headers", "secret"])
async def test_tls_client_auth_refuses_without_the_registered_certificate(client, make_credential, cert, other,
                                                                         case):
    cred = await tls_credential(make_credential)
    data = {"grant_type": "client_credentials", "client_id": cred.client_id}
    headers: Any = {"none": {}, "other-subject": via_proxy(other), "garbage": {HEADER: "not%20a%20certificate"},
                    "two-headers": [(HEADER, cert.escaped), (HEADER, cert.escaped)], "secret": {}}[case]
    if case == "secret":  # the secret shown at creation does not authenticate a tls_client_auth credential
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                              headers=via_proxy(cert))
    else:
        r = await client.post("/token", data=data, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


async def test_a_forged_header_from_an_untrusted_peer_is_ignored(direct, make_credential, cert):
    cred = await tls_credential(make_credential)
    r = await direct.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id},
                          headers=via_proxy(cert))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_introspection_returns_the_certificate_binding(client, make_credential, cert):
    cred = await tls_credential(make_credential)
    token = await tls_token(client, cred, cert)
    r = await client.post("/introspect", data={"token": token, "client_id": cred.client_id}, headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True and r.json()["token_type"] == "Bearer"
    assert r.json()["cnf"] == {"x5t#S256": thumbprint(cert.cert)}
    r = await client.post("/revoke", data={"token": token, "client_id": cred.client_id}, headers=via_proxy(cert))
    assert r.status_code == 200, r.text


async def test_management_api_needs_the_same_certificate(client, direct, make_credential, cert, other):
    cred = await tls_credential(make_credential)
    token = await tls_token(client, cred, cert)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/account-memberships", headers={**auth, **via_proxy(cert)})).status_code == 200
    cases = ((auth, client), ({**auth, **via_proxy(other)}, client), ({**auth, **via_proxy(cert)}, direct))
    for headers, peer in cases:
        r = await peer.get("/api/account-memberships", headers=headers)
        assert r.status_code == 401, r.text
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_decision_endpoint_and_forward_auth_need_the_same_certificate(client, make_credential, cert, other):
    cred = await tls_credential(make_credential)
    token = await tls_token(client, cred, cert)
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.post("/api/authorize", json={"permission": "accounts:read"}, headers={**auth, **via_proxy(cert)})
    assert r.status_code in (200, 403), r.text
    r = await client.post("/api/authorize", json={"permission": "accounts:read"}, headers={**auth, **via_proxy(other)})
    assert r.status_code == 401
    fwd = {**auth, "X-Keyturn-Permission": "accounts:read"}
    assert (await client.get("/auth/forward", headers={**fwd, **via_proxy(cert)})).status_code in (200, 403)
    assert (await client.get("/auth/forward", headers=fwd)).status_code == 401


async def test_a_secret_client_registered_bound_needs_a_certificate(client, make_credential, cert):
    cred = await make_credential(refresh="none", tls_client_certificate_bound_access_tokens=True)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": thumbprint(cert.cert)}


async def test_an_unbound_client_gets_unbound_tokens_with_a_certificate(client, make_credential, cert):
    cred = await make_credential(refresh="none")
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    assert "cnf" not in jwt.decode(r.json()["access_token"], options={"verify_signature": False})


async def test_public_client_code_flow_binds_to_the_certificate_userinfo_checks_it(client, ctx, make_user, cert,
                                                                                   other):
    rp = await make_client(ctx, tls_bound_access_tokens=True)  # RFC 8705 §4: a public client binds only
    assert rp["tls_client_certificate_bound_access_tokens"] is True
    user = await make_user()
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, scope="openid offline_access")
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                          "redirect_uri": REDIRECT, "client_id": rp["client_id"]},
                          headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["cnf"] == {"x5t#S256": thumbprint(cert.cert)}
    auth = {"Authorization": f"Bearer {access}"}
    ok = await client.get("/userinfo", headers={**auth, **via_proxy(cert)})
    assert ok.status_code == 200 and ok.json()["sub"] == user.id, ok.text
    for headers in (auth, {**auth, **via_proxy(other)}):
        r = await client.get("/userinfo", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text


async def test_oidc_client_with_tls_client_auth_over_the_api(client, make_user, ctx):
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    body = {"name": "mTLS app", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=client\\2d1,O=Keyturn Tests,C=NZ",  # kept normalised
            "tls_client_certificate_bound_access_tokens": True}
    r = await client.post("/api/oidc-clients", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["type"] == "confidential" and "client_secret" not in data
    assert data["tls_client_auth_subject_dn"] == DN
    assert data["tls_client_certificate_bound_access_tokens"] is True
    r = await client.post("/api/oidc-clients", json={**body, "tls_client_auth_subject_dn": "not a dn"},
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_CLIENT_METADATA", r.text


async def test_discovery_advertises_mtls(client):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]
    assert "tls_client_auth" in meta["introspection_endpoint_auth_methods_supported"]
    assert "mtls_endpoint_aliases" not in meta


async def test_a_disabled_tls_client_auth_credential_is_refused_with_its_certificate(client, make_credential,
                                                                                     make_user, cert):
    owner = await make_user()
    cred = await tls_credential(make_credential, owner=owner)
    r = await client.put(f"/api/v2/credential/{cred.client_id}", json={"status": 1}, headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id},
                          headers=via_proxy(cert))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_a_public_clients_refresh_token_is_bound_to_its_certificate(client, ctx, make_user, cert, other):
    """RFC 8705 §4: the refresh token works only with the certificate it was issued to."""
    rp = await make_client(ctx, tls_bound_access_tokens=True)
    user = await make_user()
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, scope="openid offline_access")
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                          "redirect_uri": REDIRECT, "client_id": rp["client_id"]},
                          headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    data = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"], "client_id": rp["client_id"]}
    r = await client.post("/token", data=data, headers=via_proxy(other))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    r = await client.post("/token", data=data)  # no certificate: the client's tokens must be bound
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = await client.post("/token", data=data, headers=via_proxy(cert))
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": thumbprint(cert.cert)}


@pytest.mark.parametrize("settings_overrides", [{"mtls_cert_header": HEADER, "trusted_proxies": ("127.0.0.1/32",),
                                                 "refresh_reuse_grace": 30}])
async def test_a_repeat_in_the_grace_window_needs_the_same_certificate(client, ctx, make_user, cert, other):
    rp = await make_client(ctx, tls_bound_access_tokens=True)
    user = await make_user()
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, scope="openid offline_access")
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                          "redirect_uri": REDIRECT, "client_id": rp["client_id"]},
                          headers=via_proxy(cert))
    data = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"], "client_id": rp["client_id"]}
    first = await client.post("/token", data=data, headers=via_proxy(cert))
    assert first.status_code == 200, first.text
    again = await client.post("/token", data=data, headers=via_proxy(cert))
    assert again.status_code == 200 and again.json()["refresh_token"] == first.json()["refresh_token"]
    thief = await client.post("/token", data=data, headers=via_proxy(other))
    assert thief.status_code == 400 and thief.json()["error"] == "invalid_grant", thief.text
