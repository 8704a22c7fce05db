"""Seed 000's machine-to-machine credential with a key pair, driven by a client library nobody here wrote:
Authlib's AsyncOAuth2Client with ``PrivateKeyJWT`` (RFC 7523) runs client_credentials against a live
``keyturn serve`` at ``/token`` and at the seed's ``POST /api/v2/access/token``. One credential's keys are inline
(``keyturn credentials create --jwks FILE``), the other's at a ``jwks_uri`` on a real https server
(``--jwks-uri URL``; KEYTURN_JWKS_URI_ALLOWED_HOSTS and KEYTURN_OUTBOUND_CA_FILE name it). A secret is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey

from tests.assertion_keys import KeyPair
from tests.interop.test_authlib_code_flow import PASSWORD
from tests.jwks_server import JwksServer
from tests.server import LiveServer, live_database, start_server

pytestmark = pytest.mark.server


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path, jwks_server: JwksServer) -> Iterator[LiveServer]:
    # Authlib signs assertions valid for an hour unless told otherwise (docs/client-authentication.md)
    with live_database(request.param, tmp_path) as db:
        live = start_server(db, tmp_path, env_extra={"KEYTURN_JWKS_URI_ALLOWED_HOSTS": jwks_server.host,
                                                     "KEYTURN_OUTBOUND_CA_FILE": jwks_server.ca_file,
                                                     "KEYTURN_CLIENT_ASSERTION_MAX_LIFETIME": "3600"})
        try:
            yield live
        finally:
            live.stop()


def _key(pair: KeyPair) -> ECKey:
    pem = pair.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    return ECKey.import_key(pem, {"kid": pair.kid or ""})


async def test_authlib_client_credentials_with_a_key_pair(server: LiveServer, tmp_path: Path,
                                                          jwks_server: JwksServer) -> None:
    server.cli("users", "create", "--email", "m2m@example.test", "--password", PASSWORD, "--verified")
    inline, published = KeyPair("ES256", kid="inline-1"), KeyPair("ES256", kid="uri-1")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(inline.jwks))
    jwks_server.jwks = published.jwks
    by_file = server.cli("credentials", "create", "--user", "m2m@example.test", "--name", "m2m.inline",
                         "--jwks", str(jwks_file))["data"]
    by_uri = server.cli("credentials", "create", "--user", "m2m@example.test", "--name", "m2m.uri",
                        "--jwks-uri", jwks_server.url())["data"]
    assert by_file["password"] is None and by_uri["token_endpoint_auth_method"] == "private_key_jwt"
    async with httpx.AsyncClient() as http:
        meta = (await http.get(f"{server.url}/.well-known/openid-configuration")).json()
    endpoints = (meta["token_endpoint"], f"{server.url}/api/v2/access/token")
    for cred, pair in ((by_file, inline), (by_uri, published)):
        # aud: the issuer identifier (FAPI 2.0), not Authlib's default of the token endpoint URL
        auth = PrivateKeyJWT(token_endpoint=meta["issuer"], alg="ES256", headers={"kid": pair.kid})
        async with AsyncOAuth2Client(cred["username"], _key(pair), token_endpoint_auth_method=auth) as session:
            for endpoint in endpoints:
                token = await session.fetch_token(endpoint, grant_type="client_credentials")
                assert token["token_type"] == "Bearer" and token["access_token"], token
    assert jwks_server.hits["/jwks"] == 1  # fetched once, then cached
    # a secret is refused for such a credential
    async with httpx.AsyncClient() as http:
        r = await http.post(endpoints[1], json={"grant_type": "client_credentials",
                                                "client_id": by_file["username"], "client_secret": "x" * 32})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
