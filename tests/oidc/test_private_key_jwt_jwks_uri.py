"""An OIDC client registered with a ``jwks_uri`` (RFC 7591 §2) instead of ``jwks``: through ``POST /register``,
RFC 7592 update and ``POST /api/oidc-clients`` when its host is on ``KEYTURN_JWKS_URI_ALLOWED_HOSTS``, refused
(400 ``invalid_client_metadata`` naming it) when not; its keys fetched from a real https server
(tests/jwks_server.py) authenticate its assertions. And the CLI's ``--jwks-uri`` (clients and credentials)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.services.oidc import registration
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.assertion_keys import KeyPair, form
from tests.jwks_server import JwksServer
from tests.oidc.helpers import REDIRECT, authorize_code, exchange


@pytest.fixture
def settings_overrides(jwks_server: JwksServer) -> dict[str, Any]:
    return {"jwks_uri_allowed_hosts": (jwks_server.host,), "outbound_ca_file": jwks_server.ca_file,
            "registration": "initial_token"}


async def test_dynamic_registration_with_jwks_uri(client, ctx, jwks_server):
    key = KeyPair("ES256", kid="dyn")
    jwks_server.jwks = key.jwks
    issued = await registration.issue_initial_token(ctx, expires_in=None, uses=None)
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    body: dict[str, Any] = {"client_name": "Dyn", "redirect_uris": [REDIRECT],
                            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server.url()}
    for bad, says in [({"jwks_uri": "https://keys.example/jwks"}, "jwks_uri host"),
                      ({"jwks_uri": jwks_server.url().replace("https", "http")}, "https"),
                      ({"jwks": key.jwks}, "not both")]:
        r = await client.post("/register", json={**body, **bad}, headers=bearer)
        assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text
        assert says in r.json()["error_description"]
    r = await client.post("/register", json=body, headers=bearer)
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["jwks_uri"] == jwks_server.url() and "jwks" not in reg and "client_secret" not in reg
    cid = reg["client_id"]
    r = await client.post("/introspect", data={"token": "x", **form(cid, key.assertion(cid, now=ctx.clock()))})
    assert r.status_code == 200, r.text
    assert jwks_server.hits["/jwks"] == 1
    # RFC 7592 update: from jwks_uri to inline keys (the metadata is replaced whole)
    other = KeyPair("ES256", kid="inline")
    update = {"client_id": cid, "client_name": "Dyn", "redirect_uris": [REDIRECT],
              "token_endpoint_auth_method": "private_key_jwt", "jwks": other.jwks}
    r = await client.put(f"/register/{cid}", json=update,
                         headers={"Authorization": f"Bearer {reg['registration_access_token']}"})
    assert r.status_code == 200, r.text
    assert "jwks_uri" not in r.json() and r.json()["jwks"] == other.jwks
    r = await client.post("/introspect", data={"token": "x", **form(cid, other.assertion(cid, now=ctx.clock()))})
    assert r.status_code == 200, r.text


async def test_management_api_client_with_jwks_uri(client, ctx, make_user, jwks_server):
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    admin = {"Authorization": f"Bearer {token}"}
    key = KeyPair("EdDSA", kid="mgmt")
    jwks_server.jwks = key.jwks
    r = await client.post("/api/oidc-clients", headers=admin, json={
        "client_name": "FAPI app", "redirect_uris": [REDIRECT], "first_party": True, "scope": "openid",
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server.url()})
    assert r.status_code == 201, r.text
    rp = r.json()["data"]
    assert rp["jwks_uri"] == jwks_server.url() and "client_secret" not in rp
    cid = rp["client_id"]
    code, verifier, _ = await authorize_code(client, cid, user)
    r = await exchange(client, cid, code, verifier, **form(None, key.assertion(cid, now=ctx.clock())))
    assert r.status_code == 200, r.text
    r = await client.post("/api/oidc-clients", headers=admin, json={
        "client_name": "No", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://evil.example/jwks"})
    assert r.status_code == 400 and "jwks_uri" in r.json()["message"]


def test_the_cli_registers_jwks_uri_clients_and_credentials(tmp_path, monkeypatch, jwks_server):
    for name, value in {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://keyturn.test",
                        "KEYTURN_SETTINGS_FILE": "", "KEYTURN_JWKS_URI_ALLOWED_HOSTS": jwks_server.host,
                        "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    args = ["clients", "create", "--name", "CLI app", "--confidential", "--redirect-uri", REDIRECT,
            "--token-endpoint-auth-method", "private_key_jwt"]
    ok = runner.invoke(cli_app, [*args, "--jwks-uri", jwks_server.url()])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout)
    assert out["jwks_uri"] == jwks_server.url() and "client_secret" not in out
    refused = runner.invoke(cli_app, [*args, "--jwks-uri", "https://evil.example/jwks"])
    assert refused.exit_code == 2 and "not allowed" in refused.output
    assert runner.invoke(cli_app, ["clients", "create", "--name", "x", "--confidential", "--redirect-uri",
                                   REDIRECT, "--jwks-uri", jwks_server.url()]).exit_code == 2  # no method

    user = runner.invoke(cli_app, ["users", "create", "--email", "cli@example.test", "--password",
                                   "correct horse battery staple"])
    assert user.exit_code == 0, user.output
    cred = runner.invoke(cli_app, ["credentials", "create", "--user", "cli@example.test", "--name", "m2m",
                                   "--jwks-uri", jwks_server.url(), "--json"])
    assert cred.exit_code == 0, cred.output
    data = json.loads(cred.stdout)["data"]
    assert data["token_endpoint_auth_method"] == "private_key_jwt" and data["password"] is None
    assert data["jwks_uri"] == jwks_server.url()
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(KeyPair().jwks))
    text = runner.invoke(cli_app, ["credentials", "create", "--user", "cli@example.test", "--name", "m2m-2",
                                   "--jwks", str(jwks_file)])
    assert text.exit_code == 0 and "token_endpoint_auth_method=private_key_jwt" in text.stdout, text.output
    both = runner.invoke(cli_app, ["credentials", "create", "--user", "cli@example.test", "--name", "m2m-3",
                                   "--jwks", str(jwks_file), "--jwks-uri", jwks_server.url()])
    assert both.exit_code == 2
