"""KEYTURN_ACCESS_TOKEN_ALG=RS256 / EdDSA: tokens are signed with it and verify from the JWKS."""

from __future__ import annotations

import jwt
import pytest


@pytest.fixture(params=["RS256", "EdDSA"])
def settings_overrides(request):
    return {"access_token_alg": request.param}


async def test_configured_algorithm_signs_access_tokens(client, ctx, make_credential):
    alg = ctx.settings.access_token_alg
    cred = await make_credential()
    token = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    header = jwt.get_unverified_header(token["access_token"])
    assert header["alg"] == alg and header["typ"] == "at+jwt"
    jwk = next(k for k in (await client.get("/jwks.json")).json()["keys"] if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token["access_token"], key, algorithms=[alg], audience=ctx.settings.issuer)
    assert claims["client_id"] == cred.client_id
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["access_token_signing_alg_values_supported"] == [alg]
