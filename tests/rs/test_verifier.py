"""The resource-server toolkit verifies our tokens and refuses every classic JWT attack (R66–R74)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any, cast

import jwt
import pytest

from keyturn.rs import InsufficientScope, InvalidAccessToken, JWKSCache, TokenVerifier
from keyturn.services.tokens import mint_access_token
from tests.conftest import ISSUER


def _b64(d: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


class FakeJWKS:
    def __init__(self, ctx):
        self.ctx = ctx
        self.calls = 0

    async def __call__(self, url: str) -> bytes:
        self.calls += 1
        return json.dumps({"keys": self.ctx.keys.published(self.ctx.clock())}).encode()


@pytest.fixture
def verifier(ctx, clock):
    fetch = FakeJWKS(ctx)
    v = TokenVerifier(issuer=ISSUER, audience=ISSUER, jwks=JWKSCache("http://jwks", fetch=fetch, clock=clock),
                      clock=clock)
    cast(Any, v).fetch = fetch  # the test reads the fake's call count through the verifier
    return v


def _token(ctx, **kw):
    args = {"sub": "c1", "client_id": "c1", "scope": "payments:read", "kind": "credential", "now": ctx.clock()}
    args.update(kw)
    return mint_access_token(ctx, **args)[0]


async def test_valid_token_and_scope(ctx, verifier):
    claims = await verifier.verify(_token(ctx), scope="payments:read")
    assert claims["client_id"] == "c1"
    with pytest.raises(InsufficientScope):
        await verifier.verify(_token(ctx), scope="payments:write")


async def test_alg_none_and_hs256_with_public_key_are_refused(ctx, verifier):
    good = _token(ctx)
    header = jwt.get_unverified_header(good)
    payload = good.split(".")[1]
    none_token = _b64({"alg": "none", "typ": "at+jwt", "kid": header["kid"]}) + "." + payload + "."
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(none_token)
    # The classic confusion attack: HMAC-sign with the public key's PEM as the secret.
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization
    pem = ctx.keys.signing_key("ES256").public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = _b64({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]}) + "." + payload
    sig = base64.urlsafe_b64encode(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=")
    hs = signing_input + "." + sig.decode()
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(hs)


async def test_embedded_jwk_and_foreign_key_are_not_trusted(ctx, verifier):
    from cryptography.hazmat.primitives.asymmetric import ec
    attacker = ec.generate_private_key(ec.SECP256R1())
    claims = jwt.decode(_token(ctx), options={"verify_signature": False})
    pub = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    forged = jwt.encode(claims, attacker, algorithm="ES256",
                        headers={"kid": "attacker", "typ": "at+jwt", "jwk": pub, "jku": "http://evil/jwks"})
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(forged)
    kid_injection = jwt.encode(claims, attacker, algorithm="ES256",
                               headers={"kid": "../../dev/null' OR 1=1", "typ": "at+jwt"})
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(kid_injection)


async def test_wrong_typ_issuer_audience_and_expiry(ctx, verifier, clock):
    good = _token(ctx)
    key = ctx.keys.signing_key("ES256")
    claims = jwt.decode(good, options={"verify_signature": False})
    as_id_token = jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"})
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(as_id_token)
    for change in ({"iss": "https://evil"}, {"aud": "https://reporting"}):
        bad = jwt.encode({**claims, **change}, key.private, algorithm="ES256",
                         headers={"kid": key.kid, "typ": "at+jwt"})
        with pytest.raises(InvalidAccessToken):
            await verifier.verify(bad)
    clock.advance(3600 + 31)
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(good)


async def test_unknown_kid_refetches_once_per_cooldown(ctx, verifier, clock):
    await verifier.verify(_token(ctx))
    assert verifier.fetch.calls == 1
    new_kid = await ctx.keys.rotate("ES256", ctx.clock())
    token = _token(ctx)
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    with pytest.raises(InvalidAccessToken):  # within the cooldown: no new fetch, unknown kid refused
        await verifier.verify(token)
    assert verifier.fetch.calls == 1
    clock.advance(31)
    assert (await verifier.verify(token))["sub"] == "c1"
    assert verifier.fetch.calls == 2


def test_leeway_is_bounded():
    with pytest.raises(ValueError):
        TokenVerifier(issuer="x", audience="x", jwks=JWKSCache("http://x"), leeway=120)


def test_toolkit_does_not_import_storage_or_endpoints():
    code = ("import sys, keyturn.rs; bad=[m for m in sys.modules if m.startswith(('keyturn.storage',"
            "'keyturn.web','keyturn.services','sqlalchemy'))]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


async def test_duplicate_jose_members_are_refused_by_the_toolkit_too(ctx, verifier):
    """RFC 7515 §5.2: the same strict parser as Keyturn's own endpoints (tests/access/test_resource_token_rules)."""
    from tests.access.test_resource_token_rules import sign_raw

    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    claims = jwt.decode(_token(ctx), options={"verify_signature": False})
    good_header = json.dumps({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"})
    assert (await verifier.verify(sign_raw(ctx, good_header, json.dumps(claims))))["sub"] == "c1"
    dup_header = f'{{"alg":"{key.alg}","kid":"{key.kid}","typ":"at+jwt","typ":"JWT"}}'
    dup_payload = json.dumps(claims)[:-1] + ',"sub":"someone-else"}'
    for header, payload in ((dup_header, json.dumps(claims)), (good_header, dup_payload)):
        with pytest.raises(InvalidAccessToken):
            await verifier.verify(sign_raw(ctx, header, payload))


async def test_the_toolkit_applies_the_same_time_rules_as_keyturn(ctx, verifier, clock):
    """One leeway for nbf/iat in the future; the toolkit also applies it to exp (its clock is not ours)."""
    from keyturn.core.jose import DEFAULT_LEEWAY

    assert verifier.leeway == DEFAULT_LEEWAY
    now = int(clock())
    ahead = _token(ctx, now=now + DEFAULT_LEEWAY + 1)
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(ahead)
    await verifier.verify(_token(ctx, now=now + DEFAULT_LEEWAY - 1))
    token = _token(ctx)
    clock.advance(3600 + DEFAULT_LEEWAY - 1)
    await verifier.verify(token)
    clock.advance(1)
    with pytest.raises(InvalidAccessToken):
        await verifier.verify(token)
