"""rs/_verify.py: the toolkit's FastAPI/Starlette dependency answers RFC 6750 §3 challenges."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keyturn.core import jose
from keyturn.rs import InvalidAccessToken, JWKSCache, TokenVerifier, bearer_dependency

ISSUER = "https://as.example"
API = "https://payments.example"
NOW = 1_700_000_000.0


class Fetch:
    def __init__(self, jwk: dict[str, Any]) -> None:
        self.jwk = jwk
        self.calls = 0

    async def __call__(self, url: str) -> bytes:
        self.calls += 1
        return json.dumps({"keys": [self.jwk]}).encode()


@pytest.fixture
def key() -> jose.SigningKey:
    private = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(private, "ES256")
    return jose.SigningKey(jwk["kid"], "ES256", private, jwk)


@pytest.fixture
def fetch(key: jose.SigningKey) -> Fetch:
    return Fetch(key.jwk)


@pytest.fixture
def verifier(fetch: Fetch) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=API, jwks=JWKSCache(ISSUER + "/jwks", fetch=fetch), clock=lambda: NOW)


def _token(key: jose.SigningKey, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": API, "sub": "c1", "client_id": "c1", "iat": int(NOW), "exp": int(NOW) + 3600,
            "scope": "payments:read", **claims}
    return jose.sign(body, key, typ="at+jwt")


async def test_a_token_without_a_kid_is_refused_without_fetching_keys(key, fetch, verifier):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "ES256", "typ": "at+jwt"}).encode()).rstrip(b"=").decode()
    _, payload, signature = _token(key).split(".")
    with pytest.raises(InvalidAccessToken, match="no key id"):
        await verifier.verify(f"{header}.{payload}.{signature}")
    for junk in ("", "a.b", "not-a-jwt", "x.y.z"):
        with pytest.raises(InvalidAccessToken):
            await verifier.verify(junk)
    assert fetch.calls == 0  # junk never reaches the issuer's JWKS


@pytest.fixture
def client(verifier: TokenVerifier) -> httpx.AsyncClient:
    require_write = bearer_dependency(verifier, scope="payments:write")
    require_any = bearer_dependency(verifier)

    async def pay(request: Request) -> JSONResponse:
        return JSONResponse({"sub": (await require_write(request))["sub"]})

    async def read(request: Request) -> JSONResponse:
        return JSONResponse({"scope": (await require_any(request))["scope"]})

    app = Starlette(routes=[Route("/payments", pay, methods=["POST"]), Route("/payments", read, methods=["GET"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=API)


async def test_no_credentials_get_a_challenge_without_an_error_code(client):
    """RFC 6750 §3.1: a request without authentication SHOULD NOT carry an error code."""
    r = await client.get("/payments")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("authorization", ["Bearer not.a.token", "Bearer ", "Basic dXNlcjpwYXNz"])
async def test_a_bad_token_is_invalid_token(client, authorization):
    r = await client.get("/payments", headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'


async def test_an_expired_or_foreign_token_is_invalid_token(client, key):
    for token in (_token(key, exp=int(NOW) - 60), _token(key, iss="https://evil.example"), _token(key, aud="x")):
        r = await client.get("/payments", headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Bearer realm="api", error="invalid_token"')


async def test_a_token_without_the_scope_is_insufficient_scope(client, key):
    """RFC 6750 §3.1: 403 insufficient_scope, naming the scope the request needs."""
    r = await client.post("/payments", headers={"Authorization": f"Bearer {_token(key)}"})
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == \
        'Bearer realm="api", error="insufficient_scope", scope="payments:write"'
    ok = await client.post("/payments", headers={"Authorization": f"Bearer {_token(key, scope='payments:write')}"})
    assert ok.status_code == 200 and ok.json() == {"sub": "c1"}


async def test_the_bearer_prefix_is_optional_as_seed_001_sends_it(client, key):
    token = _token(key)
    for authorization in (f"Bearer {token}", f"bearer {token}", token):
        r = await client.get("/payments", headers={"Authorization": authorization})
        assert r.status_code == 200 and r.json() == {"scope": "payments:read"}, authorization


async def test_a_key_the_issuer_does_not_publish_is_refused(verifier):
    """RFC 8725 §3.10 / R66: the key comes only from the issuer's JWKS, by exact kid."""
    private = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(private, "ES256")
    stranger = jose.SigningKey(jwk["kid"], "ES256", private, jwk)
    with pytest.raises(InvalidAccessToken, match="unknown signing key"):
        await verifier.verify(_token(stranger))
