"""EdDSA (Ed25519, RFC 8037) ID tokens for relying parties that register id_token_signed_response_alg EdDSA
(issue 11): registration over the API and the CLI, the published OKP key, code exchange and refresh, at_hash."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.core.jose import CLIENT_ID_TOKEN_ALGS
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.oidc.helpers import REDIRECT, authorize_code, exchange, make_client


def _sha512_half(value: str) -> str:
    """OIDC Core §3.1.3.6 at_hash for EdDSA, computed here independently of keyturn.core.jose (docs/tokens.md)."""
    digest = hashlib.sha512(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:32]).rstrip(b"=").decode()


async def _register(client: httpx.AsyncClient, ctx: Any, user: Any, alg: str) -> httpx.Response:
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    body = {"name": "Ed app", "type": "public", "redirect_uris": [REDIRECT], "first_party": True,
            "id_token_signed_response_alg": alg}
    return await client.post("/api/oidc-clients", json=body, headers={"Authorization": admin})


async def _published_key(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    return dict(next(k for k in keys if k["kid"] == kid))


async def test_an_eddsa_client_gets_eddsa_id_tokens_verifiable_with_the_published_okp_key(client, ctx, make_user):
    user = await make_user()
    r = await _register(client, ctx, user, "EdDSA")
    assert r.status_code == 201, r.text
    rp = r.json()["data"]
    assert rp["id_token_signed_response_alg"] == "EdDSA"
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    tokens = (await exchange(client, rp["client_id"], code, verifier)).json()
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT"
    jwk = await _published_key(client, tokens["id_token"])
    # RFC 8037 §2: an Ed25519 public key is kty OKP, crv Ed25519, x; no private member "d".
    assert {k: jwk[k] for k in ("kty", "crv", "use", "alg")} == {
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA"}
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) == 32 and "d" not in jwk
    claims = jwt.decode(tokens["id_token"], jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience=rp["client_id"],
                        issuer=ctx.settings.issuer)
    assert claims["sub"] == user.id and claims["nonce"] == "n-1"
    assert claims["at_hash"] == _sha512_half(tokens["access_token"])
    # The access token stays on KEYTURN_ACCESS_TOKEN_ALG (ES256 by default).
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == ctx.settings.access_token_alg == "ES256"

    # OIDC Core §12.2: the ID token of a refresh is signed as the client registered, its at_hash the new token's.
    r = await client.post("/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                          "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    refreshed = r.json()
    assert jwt.get_unverified_header(refreshed["id_token"])["alg"] == "EdDSA"
    jwk = await _published_key(client, refreshed["id_token"])
    claims = jwt.decode(refreshed["id_token"], jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience=rp["client_id"])
    assert claims["sub"] == user.id and claims["at_hash"] == _sha512_half(refreshed["access_token"])


@pytest.mark.parametrize("settings_overrides", [{"access_token_alg": "RS256", "id_token_alg": "RS256"}])
async def test_the_ring_holds_an_ed25519_key_that_rotates_even_when_no_default_uses_it(client, ctx, clock, make_user):
    """Discovery lists EdDSA (OIDC Discovery §3), so a key must sign it; a rotated one is published at once,
    signs from its activation and the old one stays published until its tokens have expired."""
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    user = await make_user()
    rp = await make_client(ctx, id_token_alg="EdDSA")

    async def id_token() -> str:
        code, verifier, _ = await authorize_code(client, rp["client_id"], user)
        r = await exchange(client, rp["client_id"], code, verifier)
        assert r.status_code == 200, r.text
        return str(r.json()["id_token"])

    old_kid = jwt.get_unverified_header(await id_token())["kid"]
    new_kid = await ctx.keys.rotate("EdDSA", clock())
    kids = {k["kid"]: k for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= set(kids) and kids[new_kid]["kty"] == "OKP" and kids[new_kid]["alg"] == "EdDSA"
    token = await id_token()
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    jwt.decode(token, jwt.PyJWK(kids[new_kid]).key, algorithms=["EdDSA"], audience=rp["client_id"])
    clock.advance(3600 + 301)
    kids = {k["kid"]: k for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid not in kids and new_kid in kids


@pytest.mark.parametrize("alg", ["PS256", "HS256", "none", "eddsa", "Ed25519", "ES512", ""])
async def test_an_alg_a_client_may_not_register_is_refused_with_the_api_error_shape(client, ctx, make_user, alg):
    user = await make_user()
    r = await _register(client, ctx, user, alg)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "ERROR" and body["error"] == "INVALID_REQUEST", body
    assert "id_token_signed_response_alg" in body["message"]
    assert r.headers["cache-control"] == "no-store"


async def test_the_openapi_document_lists_the_registrable_algs(client):
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["ClientIn"]
    prop = schema["properties"]["id_token_signed_response_alg"]
    listed = next(option["enum"] for option in prop["anyOf"] if "enum" in option)
    assert listed == list(CLIENT_ID_TOKEN_ALGS) and "EdDSA" in listed


def test_the_cli_registers_an_eddsa_client_and_refuses_an_unknown_alg(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://keyturn.test",
                        "KEYTURN_SETTINGS_FILE": "",
                        "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    args = ["clients", "create", "--name", "Ed app", "--public", "--redirect-uri", REDIRECT, "--id-token-alg"]
    ok = runner.invoke(app, [*args, "EdDSA"])
    assert ok.exit_code == 0, ok.output
    assert '"id_token_signed_response_alg": "EdDSA"' in ok.stdout
    bad = runner.invoke(app, [*args, "PS256"])
    assert bad.exit_code == 2
    assert '"error": "INVALID_REQUEST"' in bad.stderr and "EdDSA" in bad.stderr
