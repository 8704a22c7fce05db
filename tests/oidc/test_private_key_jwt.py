"""private_key_jwt end to end through the front: a client registered with its public keys (POST /api/oidc-clients
or POST /register) runs the code flow, authenticating at /token, /revoke and /par with signed assertions; what
the parser refuses in a jwks (private or symmetric keys, duplicate kids, too many keys)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.core.errors import ApiError
from keyturn.services.oidc import registration
from keyturn.services.oidc.metadata import check_jwks, parse
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.assertion_keys import KeyPair, form
from tests.oidc.helpers import REDIRECT, authorize_code, exchange


@pytest.fixture
async def admin(ctx, make_user):
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


async def test_code_flow_with_private_key_jwt(client, ctx, admin, make_user):
    key = KeyPair("ES256")
    r = await client.post("/api/oidc-clients", headers=admin, json={
        "client_name": "FAPI app", "redirect_uris": [REDIRECT], "first_party": True, "scope": "openid email",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks,
        "token_endpoint_auth_signing_alg": "ES256"})
    assert r.status_code == 201, r.text
    rp = r.json()["data"]
    assert rp["type"] == "confidential" and rp["token_endpoint_auth_method"] == "private_key_jwt"
    assert "client_secret" not in rp  # its keys authenticate it
    assert rp["jwks"] == key.jwks and rp["token_endpoint_auth_signing_alg"] == "ES256"
    cid = rp["client_id"]
    user = await make_user()

    code, verifier, _ = await authorize_code(client, cid, user)
    r = await exchange(client, cid, code, verifier)  # no client authentication
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    code, verifier, _ = await authorize_code(client, cid, user)
    assertion = key.assertion(cid, now=ctx.clock())
    r = await exchange(client, cid, code, verifier, **form(None, assertion))
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["id_token"] and tokens["refresh_token"]

    # the same assertion again (refresh): replayed
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                          **form(cid, assertion)})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                          **form(cid, key.assertion(cid, now=ctx.clock()))})
    assert r.status_code == 200, r.text

    # wrong aud at /token
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"],
                                          **form(cid, key.assertion(cid, now=ctx.clock(),
                                                                    aud="http://keyturn.test/token"))})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"

    # /par and /revoke take the same client authentication
    r = await client.post("/par", data={"response_type": "code", "client_id": cid, "redirect_uri": REDIRECT,
                                        "scope": "openid", "code_challenge": "x" * 43,
                                        "code_challenge_method": "S256",
                                        **form(cid, key.assertion(cid, now=ctx.clock()))})
    assert r.status_code == 201, r.text
    r = await client.post("/revoke", data={"token": tokens["access_token"],
                                           **form(cid, key.assertion(cid, now=ctx.clock()))})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("settings_overrides", [{"registration": "initial_token"}])
async def test_dynamic_registration_with_jwks(client, ctx):
    key = KeyPair("EdDSA", kid=None)
    issued = await registration.issue_initial_token(ctx, expires_in=None, uses=None)
    body: dict[str, Any] = {"client_name": "Dyn", "redirect_uris": [REDIRECT],
                            "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks}
    r = await client.post("/register", json=body, headers={"Authorization": f"Bearer {issued.secret}"})
    assert r.status_code == 201, r.text
    reg = r.json()
    assert "client_secret" not in reg and "client_secret_expires_at" not in reg
    assert reg["token_endpoint_auth_method"] == "private_key_jwt" and reg["jwks"] == key.jwks
    r = await client.post("/introspect", data={"token": "x", **form(reg["client_id"],
                                                                     key.assertion(reg["client_id"], now=ctx.clock()))})
    assert r.status_code == 200, r.text
    r = await client.post("/register", json={**body, "jwks": {"keys": [{**key.jwk, "d": "AAAA"}]}},
                          headers={"Authorization": f"Bearer {issued.secret}"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"
    assert "public keys only" in r.json()["error_description"]


def _jwks_refused(jwks: Any) -> str:
    with pytest.raises(ApiError) as exc:
        check_jwks("jwks", jwks)
    assert exc.value.code == "INVALID_CLIENT_METADATA"
    return exc.value.message


def test_jwks_rules():
    es = KeyPair("ES256")
    assert check_jwks("jwks", es.jwks) == es.jwks
    assert check_jwks("jwks", {"keys": [KeyPair("RS256").jwk, KeyPair("ES384", kid="b").jwk]})
    assert "1 to 10" in _jwks_refused({"keys": []})
    assert "1 to 10" in _jwks_refused({"keys": [KeyPair("ES256", kid=str(i)).jwk for i in range(11)]})
    assert "1 to 10" in _jwks_refused([es.jwk])
    assert "1 to 10" in _jwks_refused({"keys": [es.jwk], "extra": 1})
    assert "JSON object" in _jwks_refused({"keys": ["x"]})
    assert "asymmetric" in _jwks_refused({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    assert "asymmetric" in _jwks_refused({"keys": [{"kty": 1}]})
    assert "public keys only" in _jwks_refused({"keys": [{**es.jwk, "d": "AAAA"}]})
    rsa = KeyPair("PS256").jwk
    for private in ("p", "q", "dp", "dq", "qi", "oth"):
        assert "public keys only" in _jwks_refused({"keys": [{**rsa, private: "AAAA"}]})
    assert "unique" in _jwks_refused({"keys": [es.jwk, KeyPair("ES256").jwk]})
    assert "unique" in _jwks_refused({"keys": [{**es.jwk, "kid": ""}]})
    assert "signing" in _jwks_refused({"keys": [{**es.jwk, "use": "enc"}]})
    assert "not supported" in _jwks_refused({"keys": [{**es.jwk, "alg": "HS256"}]})
    assert "valid EC public key" in _jwks_refused({"keys": [{**es.jwk, "x": "AAAA"}]})
    assert "P-256 or P-384" in _jwks_refused({"keys": [{**KeyPair("ES256").jwk, "crv": "P-521"}]})
    okp = KeyPair("EdDSA").jwk
    assert "Ed25519" in _jwks_refused({"keys": [{**okp, "crv": "X25519"}]})
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    from jwt.algorithms import RSAAlgorithm
    small = RSAAlgorithm.to_jwk(rsa_keys.generate_private_key(65537, 1024).public_key(), as_dict=True)
    assert "2048" in _jwks_refused({"keys": [small]})


@pytest.mark.parametrize(("body", "named"), [
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
    ({"jwks": {"keys": []}}, "jwks"),
    ({"token_endpoint_auth_method": "client_secret_basic", "jwks": KeyPair().jwks}, "jwks"),
    ({"token_endpoint_auth_signing_alg": "ES256"}, "token_endpoint_auth_signing_alg"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": KeyPair().jwks,
      "token_endpoint_auth_signing_alg": "HS256"}, "HS256"),
])
def test_metadata_pairs(body, named):
    with pytest.raises(ApiError) as exc:
        parse({"redirect_uris": [REDIRECT], **body}, dynamic=True)
    assert named in exc.value.message


def test_the_cli_registers_a_private_key_jwt_client(tmp_path, monkeypatch):
    for name, value in {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://keyturn.test",
                        "KEYTURN_SETTINGS_FILE": "",
                        "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(name, value)
    key = KeyPair("PS256")
    good = tmp_path / "jwks.json"
    good.write_text(json.dumps(key.jwks))
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [{**key.jwk, "d": "AAAA"}]}))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    runner = CliRunner()
    args = ["clients", "create", "--name", "CLI app", "--confidential", "--redirect-uri", REDIRECT]
    ok = runner.invoke(cli_app, [*args, "--token-endpoint-auth-method", "private_key_jwt", "--jwks", str(good),
                                 "--token-endpoint-auth-signing-alg", "PS256", "--origin", "https://app.example.test"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout)
    assert out["token_endpoint_auth_method"] == "private_key_jwt" and out["jwks"] == key.jwks
    assert out["token_endpoint_auth_signing_alg"] == "PS256" and "client_secret" not in out
    # a secret method through the same options still gets its secret
    basic = runner.invoke(cli_app, [*args, "--token-endpoint-auth-method", "client_secret_post", "--text"])
    assert basic.exit_code == 0 and basic.stdout.startswith("client_id="), basic.output
    refused = runner.invoke(cli_app, [*args, "--token-endpoint-auth-method", "private_key_jwt", "--jwks", str(private)])
    assert refused.exit_code == 2 and "public keys only" in refused.output
    assert runner.invoke(cli_app, [*args, "--jwks", str(broken), "--token-endpoint-auth-method",
                                   "private_key_jwt"]).exit_code == 2
    assert runner.invoke(cli_app, [*args, "--jwks", str(good)]).exit_code == 2  # no method
    public = ["clients", "create", "--name", "SPA", "--public", "--redirect-uri", REDIRECT]
    assert runner.invoke(cli_app, [*public, "--token-endpoint-auth-method", "private_key_jwt"]).exit_code == 2
    assert runner.invoke(cli_app, [*public, "--token-endpoint-auth-method", "none"]).exit_code == 0


@pytest.mark.parametrize("settings_overrides", [{"registration": "initial_token"}])
async def test_rfc7592_update_switches_a_secret_client_to_its_keys(client, ctx):
    issued = await registration.issue_initial_token(ctx, expires_in=None, uses=None)
    body: dict[str, Any] = {"client_name": "Upgraded", "redirect_uris": [REDIRECT]}
    r = await client.post("/register", json=body, headers={"Authorization": f"Bearer {issued.secret}"})
    assert r.status_code == 201, r.text
    reg = r.json()
    cid, secret = reg["client_id"], reg["client_secret"]
    path = reg["registration_client_uri"][reg["registration_client_uri"].index("/register/"):]
    assert (await client.post("/introspect", data={"token": "x"}, auth=(cid, secret))).status_code == 200
    key = KeyPair("ES256")
    r = await client.put(path, json={**body, "client_id": cid, "token_endpoint_auth_method": "private_key_jwt",
                                     "jwks": key.jwks},
                         headers={"Authorization": f"Bearer {reg['registration_access_token']}"})
    assert r.status_code == 200, r.text
    assert r.json()["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret_expires_at" not in r.json()
    token = r.json()["registration_access_token"]
    # the secret stops working; the keys authenticate it
    assert (await client.post("/introspect", data={"token": "x"}, auth=(cid, secret))).status_code == 401
    r = await client.post("/introspect", data={"token": "x", **form(cid, key.assertion(cid, now=ctx.clock()))})
    assert r.status_code == 200, r.text
    # and there is no way back to a secret it does not have
    r = await client.put(path, json={**body, "client_id": cid}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"
    assert "private_key_jwt" in r.json()["error_description"]
