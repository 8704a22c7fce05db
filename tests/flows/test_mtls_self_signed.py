"""``self_signed_tls_client_auth`` (RFC 8705 §2.2) and the proxy's verification result
(``KEYTURN_MTLS_VERIFY_HEADER``), through the served front on SQLite and PostgreSQL.

The proxy's headers are fabricated here with 127.0.0.1 as the trusted proxy (198.51.100.7 talks to Keyturn
directly). A self-signed client authenticates at /par, /token, /introspect and /revoke by presenting a certificate
it registered in its ``jwks`` (``x5c``), matched whole; its tokens are bound (``cnf.x5t#S256``). With the verify
header configured a ``tls_client_auth`` client needs the proxy's ``SUCCESS``: a self-made certificate with its
subject is refused. tests/interop/test_mtls_self_signed_nginx.py runs the same through a real nginx.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.core.mtls import thumbprint
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.oidc import registration
from keyturn.services.oidc.metadata import parse
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.certs import Issued, authority, issue, self_signed
from tests.conftest import ISSUER
from tests.oidc.helpers import REDIRECT, pkce_pair
from tests.oidc.test_pushed_authorization_requests import _finish, _par_body

CERT_HEADER, VERIFY_HEADER = "X-SSL-Client-Cert", "X-SSL-Client-Verify"
DN = "CN=client-1,O=Keyturn Tests,C=NZ"
FAILED = "FAILED:self-signed certificate"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"mtls_cert_header": CERT_HEADER, "mtls_verify_header": VERIFY_HEADER,
            "trusted_proxies": ("127.0.0.1/32",), "registration": "initial_token"}


@pytest.fixture(scope="module")
def mine() -> Issued:
    return self_signed("client-1")


def via_proxy(cert: Issued | None, verify: str | None = FAILED) -> dict[str, str]:
    """What nginx with ``optional_no_ca`` forwards: the certificate and its verification result."""
    headers = {CERT_HEADER: cert.escaped} if cert is not None else {}
    if verify is not None:
        headers[VERIFY_HEADER] = verify
    return headers


async def self_signed_client(ctx: Any, *certs: Issued, bound: bool = True) -> str:
    body = {"name": "Self-signed app", "redirect_uris": [REDIRECT], "token_endpoint_auth_method":
            "self_signed_tls_client_auth", "jwks": {"keys": [c.jwk(f"k{i}") for i, c in enumerate(certs)]},
            "tls_client_certificate_bound_access_tokens": bound, "first_party": True}
    issued = await oidc_clients.create_from(ctx, parse(body, dynamic=False))
    assert issued.secret is None
    return issued.record.client_id


async def code_flow(client: httpx.AsyncClient, client_id: str, cert: Issued, user: Any) -> httpx.Response:
    """PAR, /authorize, sign-in and the code exchange, each authenticated by ``cert``."""
    verifier, challenge = pkce_pair()
    r = await client.post("/par", data=_par_body(client_id, challenge), headers=via_proxy(cert))
    assert r.status_code == 201, r.text
    r = await client.get("/authorize", params={"client_id": client_id, "request_uri": r.json()["request_uri"]})
    assert r.status_code == 303, r.text
    q = await _finish(client, r.headers["location"], user)
    return await client.post("/token", headers=via_proxy(cert), data={
        "grant_type": "authorization_code", "code": q["code"], "code_verifier": verifier,
        "redirect_uri": REDIRECT, "client_id": client_id})


async def test_a_self_signed_client_gets_a_certificate_bound_token(client, ctx, make_user, mine):
    user = await make_user()
    client_id = await self_signed_client(ctx, mine)
    r = await code_flow(client, client_id, mine, user)
    assert r.status_code == 200, r.text
    access, refresh = r.json()["access_token"], r.json()["refresh_token"]
    x5t = thumbprint(mine.cert)
    assert jwt.decode(access, options={"verify_signature": False})["cnf"] == {"x5t#S256": x5t}
    r = await client.post("/introspect", data={"token": access, "client_id": client_id}, headers=via_proxy(mine))
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["cnf"] == {"x5t#S256": x5t}, r.text
    r = await client.post("/token", headers=via_proxy(mine),
                          data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id})
    assert r.status_code == 200, r.text
    r = await client.post("/revoke", data={"token": r.json()["refresh_token"], "client_id": client_id},
                          headers=via_proxy(mine))
    assert r.status_code == 200, r.text


async def test_either_registered_certificate_authenticates(client, ctx, make_user, mine):
    """A rotation: two certificates registered, each one works."""
    user = await make_user()
    second = self_signed("client-1-next")
    client_id = await self_signed_client(ctx, mine, second)
    for cert in (mine, second):
        r = await code_flow(client, client_id, cert, user)
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"x5t#S256": thumbprint(cert.cert)}


@pytest.mark.parametrize("case", ["twin", "ca-issued", "none", "secret-sent"])
async def test_only_a_registered_certificate_authenticates(client, ctx, mine, case):
    client_id = await self_signed_client(ctx, mine)
    twin = self_signed("client-1")  # the same subject, made by anyone
    ca_issued = issue(authority(), "client-1")
    headers = {"twin": via_proxy(twin), "ca-issued": via_proxy(ca_issued, "SUCCESS"), "none": via_proxy(None),
               "secret-sent": via_proxy(mine)}[case]
    data = _par_body(client_id, pkce_pair()[1])
    if case == "secret-sent":  # one method per request: a secret is client_secret_post, not this client's
        data["client_secret"] = "ktcs_anything"
    r = await client.post("/par", data=data, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_a_forged_header_from_an_untrusted_peer_is_ignored(app_and_ctx, ctx, mine):
    client_id = await self_signed_client(ctx, mine)
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as direct:
        r = await direct.post("/par", data=_par_body(client_id, pkce_pair()[1]), headers=via_proxy(mine))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


@pytest.mark.parametrize("verify", ["SUCCESS", FAILED, "NONE", None])
async def test_tls_client_auth_needs_the_proxys_success(client, make_credential, verify):
    """With the verify header configured, a certificate with the subject DN authenticates only when the proxy
    verified its chain: a self-made one with the same DN is refused."""
    cred = await make_credential(refresh="none", token_endpoint_auth_method="tls_client_auth",
                                 tls_client_auth_subject_dn=DN)
    for cert in (issue(authority(), "client-1"), self_signed("client-1")):
        r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id},
                              headers=via_proxy(cert, verify))
        if verify == "SUCCESS":
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_discovery_lists_self_signed_with_the_verify_header(client):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        methods = meta[f"{name}_auth_methods_supported"]
        assert "tls_client_auth" in methods and "self_signed_tls_client_auth" in methods


class TestWithoutTheVerifyHeader:
    """The proxy verifies every certificate it forwards (``ssl_verify_client on``): no self-signed clients."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"mtls_cert_header": CERT_HEADER, "trusted_proxies": ("127.0.0.1/32",)}

    async def test_self_signed_is_neither_offered_nor_accepted(self, client, ctx, mine):
        meta = (await client.get("/.well-known/openid-configuration")).json()
        assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]
        assert "self_signed_tls_client_auth" not in meta["token_endpoint_auth_methods_supported"]
        client_id = await self_signed_client(ctx, mine)
        r = await client.post("/par", data=_par_body(client_id, pkce_pair()[1]), headers=via_proxy(mine, "SUCCESS"))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text

    async def test_tls_client_auth_trusts_the_proxy(self, client, make_credential):
        cred = await make_credential(refresh="none", token_endpoint_auth_method="tls_client_auth",
                                     tls_client_auth_subject_dn=DN)
        r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id},
                              headers=via_proxy(issue(authority(), "client-1"), None))
        assert r.status_code == 200, r.text


async def test_register_dynamically_update_and_refuse(client, ctx, mine):
    """RFC 7591 / 7592: registered with its certificate, no secret; may switch to tls_client_auth (no secret either)
    but not to a secret method; the management API refuses a certificate that is not of its key."""
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "jwks": {"keys": [mine.jwk("k")]}, "tls_client_certificate_bound_access_tokens": True}
    initial = (await registration.issue_initial_token(ctx, expires_in=None, uses=None)).secret
    bearer = {"Authorization": f"Bearer {initial}"}
    r = await client.post("/register", json=body, headers=bearer)
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["token_endpoint_auth_method"] == "self_signed_tls_client_auth" and "client_secret" not in reg
    assert reg["jwks"] == body["jwks"]
    url, token = f"/register/{reg['client_id']}", reg["registration_access_token"]
    r = await client.put(url, json={**body, "client_id": reg["client_id"], "token_endpoint_auth_method":
                                    "client_secret_basic", "jwks": None},
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and "self_signed_tls_client_auth" in r.json()["error_description"], r.text
    r = await client.put(url, json={"redirect_uris": [REDIRECT], "client_id": reg["client_id"],
                                    "token_endpoint_auth_method": "tls_client_auth",
                                    "tls_client_auth_subject_dn": DN}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["token_endpoint_auth_method"] == "tls_client_auth" and "client_secret" not in r.json()
    for jwks in ({"keys": [mine.jwk("k", x5c=False)]}, {"keys": [{**self_signed("x").jwk(), "x5c": [mine.der_b64]}]}):
        r = await client.post("/register", json={**body, "jwks": jwks}, headers=bearer)
        assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text


async def test_the_management_api_registers_one(client, ctx, make_user, mine):
    user = await make_user()
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin", kind="user",
                                 now=ctx.clock())
    body = {"name": "Self-signed", "redirect_uris": [REDIRECT], "jwks": {"keys": [mine.jwk()]},
            "token_endpoint_auth_method": "self_signed_tls_client_auth"}
    r = await client.post("/api/oidc-clients", json=body, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["type"] == "confidential" and "client_secret" not in r.json()["data"]
    r = await client.post("/api/oidc-clients", json={**body, "jwks": {"keys": [mine.jwk(x5c=False)]}},
                          headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_CLIENT_METADATA", r.text


def test_the_cli_registers_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mine: Issued) -> None:
    for name, value in {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": ISSUER, "KEYTURN_SETTINGS_FILE": "",
                        "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(name, value)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [mine.jwk("k")]}))
    args = ["clients", "create", "--name", "Self-signed", "--confidential", "--redirect-uri", REDIRECT,
            "--token-endpoint-auth-method", "self_signed_tls_client_auth", "--jwks", str(jwks)]
    out = CliRunner().invoke(cli_app, args)
    assert out.exit_code == 0, out.output
    made = json.loads(out.stdout)
    assert made["token_endpoint_auth_method"] == "self_signed_tls_client_auth" and "client_secret" not in made
    jwks.write_text(json.dumps({"keys": [mine.jwk("k", x5c=False)]}))
    refused = CliRunner().invoke(cli_app, args)
    assert refused.exit_code != 0 and "x5c" in refused.output
