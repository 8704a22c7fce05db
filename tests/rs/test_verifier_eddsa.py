"""keyturn.rs verifies EdDSA (Ed25519) access tokens from the issuer's JWKS, and only where it allows EdDSA."""

from __future__ import annotations

import json

import jwt
import pytest

from keyturn.rs import InvalidAccessToken, JWKSCache, TokenVerifier
from keyturn.services.tokens import mint_access_token
from tests.conftest import ISSUER


@pytest.fixture
def settings_overrides():
    return {"access_token_alg": "EdDSA"}


def _verifier(ctx, clock, calls: list[str], **kw) -> TokenVerifier:
    async def fetch(url: str) -> bytes:
        calls.append(url)
        return json.dumps({"keys": ctx.keys.published(ctx.clock())}).encode()

    return TokenVerifier(issuer=ISSUER, audience=ISSUER, jwks=JWKSCache("http://jwks", fetch=fetch, clock=clock),
                         clock=clock, **kw)


def _token(ctx) -> str:
    return mint_access_token(ctx, sub="c1", client_id="c1", scope="payments:read", kind="credential",
                             now=ctx.clock())[0]


async def test_an_eddsa_access_token_verifies_from_the_jwks(ctx, clock):
    calls: list[str] = []
    token = _token(ctx)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    claims = await _verifier(ctx, clock, calls).verify(token, scope="payments:read")
    assert claims["client_id"] == "c1" and calls == ["http://jwks"]


async def test_a_verifier_that_does_not_list_eddsa_refuses_it_before_fetching(ctx, clock):
    calls: list[str] = []
    verifier = _verifier(ctx, clock, calls, algorithms=("ES256", "RS256"))
    with pytest.raises(InvalidAccessToken, match="algorithm not allowed"):
        await verifier.verify(_token(ctx))
    assert calls == []  # junk never reaches the JWKS


async def test_an_eddsa_token_naming_another_algs_key_is_refused(ctx, clock):
    calls: list[str] = []
    ed = ctx.keys.signing_key("EdDSA")
    es = ctx.keys.signing_key("ES256")
    claims = jwt.decode(_token(ctx), options={"verify_signature": False})
    forged = jwt.encode(claims, ed.private, algorithm="EdDSA", headers={"kid": es.kid, "typ": "at+jwt"})
    with pytest.raises(InvalidAccessToken, match="algorithm does not match the key"):
        await _verifier(ctx, clock, calls).verify(forged)
