"""A client library nobody here wrote: Authlib's AsyncOAuth2Client with ``PrivateKeyJWT`` (RFC 7523) runs the code
flow against a live ``keyturn serve``, its client registered by the CLI with ``--jwks FILE``; a replayed
assertion and one whose ``aud`` is the token endpoint URL (Authlib's default) are ``invalid_client``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey

from tests.assertion_keys import KeyPair
from tests.interop.test_authlib_code_flow import PASSWORD, REDIRECT, _browser_login
from tests.server import LiveServer, live_database, start_server

pytestmark = pytest.mark.server


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    # Authlib signs assertions valid for an hour unless told otherwise (docs/client-authentication.md)
    with live_database(request.param, tmp_path) as db:
        live = start_server(db, tmp_path, env_extra={"KEYTURN_CLIENT_ASSERTION_MAX_LIFETIME": "3600"})
        try:
            yield live
        finally:
            live.stop()


async def test_authlib_private_key_jwt_at_the_token_endpoint(server: LiveServer, tmp_path: Path) -> None:
    pair = KeyPair("ES256", kid="authlib-1")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(pair.jwks))
    server.cli("users", "create", "--email", "pk@example.test", "--password", PASSWORD, "--verified")
    rp = server.cli("clients", "create", "--confidential", "--first-party", "--name", "Authlib FAPI app",
                    "--redirect-uri", "http://127.0.0.1/callback", "--scope", "openid email",
                    "--id-token-alg", "ES256", "--token-endpoint-auth-method", "private_key_jwt",
                    "--jwks", str(jwks_file))
    assert rp["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret" not in rp
    async with httpx.AsyncClient() as http:
        meta = (await http.get(f"{server.url}/.well-known/openid-configuration")).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    pem = pair.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    key = ECKey.import_key(pem, {"kid": "authlib-1"})

    # aud: the issuer identifier (FAPI 2.0), not Authlib's default of the token endpoint URL
    auth = PrivateKeyJWT(token_endpoint=meta["issuer"], alg="ES256", headers={"kid": "authlib-1"})
    async with AsyncOAuth2Client(rp["client_id"], key, token_endpoint_auth_method=auth, redirect_uri=REDIRECT,
                                 scope="openid email", code_challenge_method="S256") as session:
        verifier = generate_token(64)
        url, _ = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
        callback = _browser_login(url, "pk@example.test")
        token = await session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                          code_verifier=verifier)
        assert token["token_type"] == "Bearer" and token["id_token"] and token["refresh_token"]
        refreshed = await session.refresh_token(meta["token_endpoint"])
        assert refreshed["access_token"] != token["access_token"]

    # a replayed assertion: the one Authlib just signed, sent again
    assertion = auth.sign(_Auth(rp["client_id"], key), meta["issuer"])
    form = {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    stock = PrivateKeyJWT(alg="ES256", headers={"kid": "authlib-1"})
    wrong_aud = stock.sign(_Auth(rp["client_id"], key), meta["token_endpoint"])
    async with httpx.AsyncClient() as http:
        first = await http.post(meta["token_endpoint"], data=form)
        assert first.status_code == 200, first.text
        again = {**form, "refresh_token": first.json()["refresh_token"]}
        replay = await http.post(meta["token_endpoint"], data=again)
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
        # Authlib's default aud (the token endpoint URL) is refused
        r = await http.post(meta["token_endpoint"], data={**again, "client_assertion": wrong_aud})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        # and the refresh token was not spent by the refused requests
        ok = await http.post(meta["token_endpoint"], data={**again, "client_assertion": auth.sign(
            _Auth(rp["client_id"], key), meta["issuer"])})
        assert ok.status_code == 200, ok.text


class _Auth:
    """What Authlib's signer reads from its client auth object."""

    def __init__(self, client_id: str, key: ECKey) -> None:
        self.client_id = client_id
        self.client_secret = key
