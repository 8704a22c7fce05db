"""rs/_jwks.py: which published keys a resource server trusts, and how it fetches and keeps them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from keyturn.core import jose
from keyturn.rs import JWKSCache, JWKSUnavailable


def _jwk(alg: str = "ES256") -> tuple[jose.PrivateKey, dict[str, Any]]:
    private = jose.generate_private_key(alg)
    return private, jose.public_jwk(private, alg)


class Fetch:
    """A JWKS endpoint that answers what the test sets (or fails)."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.fail = False
        self.calls = 0

    async def __call__(self, url: str) -> bytes:
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return json.dumps({"keys": self.keys}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_private_symmetric_foreign_and_encryption_keys_are_never_verification_keys():
    private, good = _jwk()
    leaked = {**_jwk()[1], "kid": "leaked", "d": "AAAA"}  # a private EC key published by mistake
    symmetric = {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0"}
    encryption = {**_jwk()[1], "kid": "enc", "use": "enc"}
    unnamed = {**_jwk()[1], "kid": 7}
    cache = JWKSCache("https://as.example/jwks", fetch=Fetch(good, leaked, symmetric, encryption, unnamed))
    found = await cache.key(good["kid"])
    assert found is not None and found[0] == "ES256"
    for kid in ("leaked", "hmac", "enc", "7"):
        assert await cache.key(kid) is None, kid


async def test_keys_without_use_are_signature_keys():
    _, jwk = _jwk("RS256")
    del jwk["use"]
    assert (await JWKSCache("u", fetch=Fetch(jwk)).key(jwk["kid"])) is not None


async def test_no_keys_ever_fetched_is_unavailable():
    fetch = Fetch()
    fetch.fail = True
    with pytest.raises(JWKSUnavailable, match="cannot fetch https://as.example/jwks"):
        await JWKSCache("https://as.example/jwks", fetch=fetch).key("k")


async def test_a_failing_endpoint_keeps_the_cached_keys_in_service():
    """F17: while the authorization server is down, tokens signed by known keys still verify."""
    _, jwk = _jwk()
    fetch, clock = Fetch(jwk), Clock()
    cache = JWKSCache("u", fetch=fetch, clock=clock, max_age=300, cooldown=30)
    assert await cache.key(jwk["kid"]) is not None
    fetch.fail = True
    clock.now += 301  # stale: a refetch is due, and fails
    assert await cache.key(jwk["kid"]) is not None
    assert fetch.calls == 2


async def test_stale_keys_are_refetched_after_max_age():
    _, old = _jwk()
    _, new = _jwk()
    fetch, clock = Fetch(old), Clock()
    cache = JWKSCache("u", fetch=fetch, clock=clock, max_age=300, cooldown=30)
    assert await cache.key(old["kid"]) is not None
    fetch.keys = [new]  # the old key retired
    clock.now += 299
    assert await cache.key(old["kid"]) is not None and fetch.calls == 1
    clock.now += 2
    assert await cache.key(old["kid"]) is None
    assert await cache.key(new["kid"]) is not None and fetch.calls == 2


async def _serve(answer: Callable[[str], bytes]) -> tuple[asyncio.AbstractServer, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        writer.write(answer(request.split()[1]))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _http(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n").encode() + body


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    _, jwk = _jwk()
    body = json.dumps({"keys": [jwk]}).encode()

    def answer(path: str) -> bytes:
        if path == "/jwks":
            return _http("200 OK", body, "Content-Type: application/json\r\n")
        if path == "/moved":
            return _http("302 Found", headers="Location: /jwks\r\n")
        return _http("404 Not Found")

    server, base = await _serve(answer)
    yield base, jwk
    server.close()
    await server.wait_closed()


async def test_the_default_fetcher_reads_the_jwks_over_http(jwks_server):
    base, jwk = jwks_server
    found = await JWKSCache(base + "/jwks").key(jwk["kid"])
    assert found is not None and found[0] == "ES256"


@pytest.mark.parametrize("path", ["/moved", "/missing"])
async def test_the_default_fetcher_follows_no_redirect_and_takes_no_error_page(jwks_server, path):
    """The key set comes from the configured URL only (RFC 8725 §3.10: no key from where a token or a
    redirect points)."""
    base, jwk = jwks_server
    with pytest.raises(JWKSUnavailable):
        await JWKSCache(base + path).key(jwk["kid"])
