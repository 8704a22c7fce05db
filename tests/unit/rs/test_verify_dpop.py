"""keyturn.rs: DPoP-bound tokens (RFC 9449 §7) — verify_request and the FastAPI/Starlette dependency."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keyturn.core import jose
from keyturn.rs import (
    InsufficientScope,
    InvalidAccessToken,
    InvalidDPoPProof,
    MemoryReplayCache,
    TokenVerifier,
    bearer_dependency,
)
from tests.dpop_keys import DPoPKey
from tests.unit.rs.test_verify import API, ISSUER, NOW, Fetch, _token

__all__ = ["Fetch"]
URL = API + "/payments"


@pytest.fixture
def key() -> jose.SigningKey:
    private = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(private, "ES256")
    return jose.SigningKey(jwk["kid"], "ES256", private, jwk)


@pytest.fixture
def verifier(key: jose.SigningKey) -> TokenVerifier:
    from keyturn.rs import JWKSCache
    return TokenVerifier(issuer=ISSUER, audience=API, jwks=JWKSCache(ISSUER + "/jwks", fetch=Fetch(key.jwk)),
                         clock=lambda: NOW)


@pytest.fixture
def holder() -> DPoPKey:
    return DPoPKey()


def bound(key: jose.SigningKey, holder: DPoPKey, **claims: Any) -> str:
    return _token(key, cnf={"jkt": holder.jkt}, **claims)


async def test_a_bound_token_with_a_proof_of_its_key_is_accepted(verifier, key, holder):
    token = bound(key, holder)
    claims = await verifier.verify_request(f"DPoP {token}", method="POST", url=URL,
                                           dpop_proofs=[holder.proof("POST", URL, token=token, iat=NOW)])
    assert claims["cnf"] == {"jkt": holder.jkt}


async def test_an_unbound_bearer_token_is_still_accepted(verifier, key):
    assert (await verifier.verify_request(f"Bearer {_token(key)}", method="GET", url=URL))["sub"] == "c1"


@pytest.mark.parametrize("case", ["bearer", "no-proof", "two-proofs", "other-key", "htm", "htu", "ath", "replay",
                                  "unbound-as-dpop", "malformed"])
async def test_negative_cases(verifier, key, holder, case):
    token = bound(key, holder)
    other = DPoPKey()
    good = holder.proof("POST", URL, token=token, iat=NOW)
    authorization, proofs = {
        "bearer": (f"Bearer {token}", []),
        "no-proof": (f"DPoP {token}", []),
        "two-proofs": (f"DPoP {token}", [good, good]),
        "other-key": (f"DPoP {token}", [other.proof("POST", URL, token=token, iat=NOW)]),
        "htm": (f"DPoP {token}", [holder.proof("GET", URL, token=token, iat=NOW)]),
        "htu": (f"DPoP {token}", [holder.proof("POST", API + "/refunds", token=token, iat=NOW)]),
        "ath": (f"DPoP {token}", [holder.proof("POST", URL, token="another", iat=NOW)]),
        "replay": (f"DPoP {token}", [good]),
        "unbound-as-dpop": (f"DPoP {_token(key)}", [good]),
        "malformed": ("DPoP a b", [good]),
    }[case]
    if case == "replay":
        await verifier.verify_request(authorization, method="POST", url=URL, dpop_proofs=proofs)
    expected = InvalidDPoPProof if case in ("no-proof", "two-proofs", "htm", "htu", "ath", "replay") \
        else InvalidAccessToken
    with pytest.raises(expected):
        await verifier.verify_request(authorization, method="POST", url=URL, dpop_proofs=proofs)


async def test_scope_is_checked_after_the_sender(verifier, key, holder):
    token = bound(key, holder)
    with pytest.raises(InsufficientScope):
        await verifier.verify_request(f"DPoP {token}", method="POST", url=URL, scope="payments:write",
                                      dpop_proofs=[holder.proof("POST", URL, token=token, iat=NOW)])


async def test_the_memory_replay_cache_forgets_expired_entries_and_stays_bounded():
    now = [0.0]
    cache = MemoryReplayCache(lambda: now[0], max_entries=4)
    assert await cache.first_use("a", 10) and not await cache.first_use("a", 10)
    now[0] = 11
    assert await cache.first_use("a", 10)  # expired: a new use
    for k in "bcdefgh":
        assert await cache.first_use(k, 100)
    assert len(cache._until) <= 4


async def test_the_dependency_answers_dpop_challenges(verifier, key, holder):
    require = bearer_dependency(verifier, base_url=API + "/")

    async def pay(request: Request) -> JSONResponse:
        return JSONResponse({"sub": (await require(request))["sub"]})

    app = Starlette(routes=[Route("/payments", pay, methods=["POST"])])
    # the client addresses the API at its public URL; the app sees an internal host
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://internal:8080") as c:
        token = bound(key, holder)
        ok = await c.post("/payments?x=1", headers={"Authorization": f"DPoP {token}",
                                                    "DPoP": holder.proof("POST", URL, token=token, iat=NOW)})
        assert ok.status_code == 200, ok.text
        bad = await c.post("/payments", headers={"Authorization": f"DPoP {token}",
                                                 "DPoP": holder.proof("POST", URL, token="x", iat=NOW)})
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == \
            'DPoP realm="api", error="invalid_dpop_proof", algs="ES256 PS256 EdDSA ES384"'
        as_bearer = await c.post("/payments", headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401
        assert as_bearer.headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'


async def test_a_malformed_authorization_header_is_invalid_token(verifier):
    with pytest.raises(InvalidAccessToken, match="malformed"):
        await verifier.verify_request("Basic a b", method="GET", url=URL)


async def test_the_memory_replay_cache_makes_room_by_dropping_expired_entries_first():
    now = [0.0]
    cache = MemoryReplayCache(lambda: now[0], max_entries=2)
    assert await cache.first_use("a", 1) and await cache.first_use("b", 100)
    now[0] = 5  # "a" expired: dropping it makes room, "b" stays
    assert await cache.first_use("c", 100)
    assert not await cache.first_use("b", 100)
