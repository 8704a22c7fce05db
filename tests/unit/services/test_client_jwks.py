"""keyturn.services.client_jwks against a real https server on 127.0.0.1 (tests/jwks_server.py; its certificate
from a test CA given as the extra outbound CA file): the cache, the unknown-kid refetch and its cooldown, single
flight, stale-if-error, and every refusal (size, time, content, scheme, host, address, redirect)."""

from __future__ import annotations

import asyncio
import json

import pytest

from keyturn.core.errors import ApiError
from keyturn.services import client_jwks
from keyturn.services.client_jwks import ClientJwks, JwksUnavailable, check_jwks_uri, host_key, parse_jwks, ttl_of
from tests.assertion_keys import KeyPair
from tests.jwks_server import JwksServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _jwks(server: JwksServer, clock: Clock, **kw) -> ClientJwks:
    return ClientJwks((server.host,), server.ca_file, clock=clock, **kw)


async def test_fetched_then_cached(jwks_server: JwksServer) -> None:
    key = KeyPair("ES256", kid="a")
    jwks_server.jwks = key.jwks
    clock = Clock()
    cache = _jwks(jwks_server, clock)
    assert await cache.keys(jwks_server.url()) == key.jwks
    clock.now += 299
    assert await cache.keys(jwks_server.url()) == key.jwks
    assert jwks_server.hits["/jwks"] == 1  # a hit: no second request
    clock.now += 2  # past the default 300 s
    await cache.keys(jwks_server.url())
    assert jwks_server.hits["/jwks"] == 2


async def test_max_age_clamped(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    jwks_server.cache_control = "public, max-age=5"  # below the minimum: 60 s
    clock = Clock()
    cache = _jwks(jwks_server, clock)
    await cache.keys(jwks_server.url())
    clock.now += 59
    await cache.keys(jwks_server.url())
    assert jwks_server.hits["/jwks"] == 1
    clock.now += 2
    await cache.keys(jwks_server.url())
    assert jwks_server.hits["/jwks"] == 2
    assert ttl_of("max-age=999999999") == client_jwks.MAX_TTL and ttl_of("max-age=600") == 600
    assert ttl_of("no-cache") == client_jwks.DEFAULT_TTL and ttl_of(None) == client_jwks.DEFAULT_TTL


async def test_unknown_kid_refetch_and_cooldown(jwks_server: JwksServer) -> None:
    old, new = KeyPair("ES256", kid="old"), KeyPair("ES256", kid="new")
    jwks_server.jwks = old.jwks
    clock = Clock()
    cache = _jwks(jwks_server, clock)
    seen = await cache.keys(jwks_server.url())
    clock.now += 61  # the client rotates: an assertion names "new"
    jwks_server.jwks = {"keys": [old.jwk, new.jwk]}
    fresh = await cache.refetch(jwks_server.url(), seen)
    assert [k["kid"] for k in fresh["keys"]] == ["old", "new"] and jwks_server.hits["/jwks"] == 2
    # junk kids: at most one fetch per cooldown
    for _ in range(5):
        assert await cache.refetch(jwks_server.url(), fresh) is fresh
    assert jwks_server.hits["/jwks"] == 2
    clock.now += client_jwks.REFETCH_COOLDOWN
    await cache.refetch(jwks_server.url(), fresh)
    assert jwks_server.hits["/jwks"] == 3
    # a refetch another request already made is not made again
    assert await cache.refetch(jwks_server.url(), seen) is not seen and jwks_server.hits["/jwks"] == 3


async def test_unknown_kid_too_soon_after_the_first_fetch(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256", kid="a").jwks
    cache = _jwks(jwks_server, Clock())
    seen = await cache.keys(jwks_server.url())
    assert await cache.refetch(jwks_server.url(), seen) is seen
    assert jwks_server.hits["/jwks"] == 1


async def test_single_flight(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    jwks_server.delay = 0.3
    cache = _jwks(jwks_server, Clock())
    results = await asyncio.gather(*(cache.keys(jwks_server.url()) for _ in range(20)))
    assert all(r == jwks_server.jwks for r in results)
    assert jwks_server.hits["/jwks"] == 1 and cache.fetches == 1


async def test_stale_if_error_then_refused(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    clock = Clock()
    cache = _jwks(jwks_server, clock)
    first = await cache.keys(jwks_server.url())
    jwks_server.status = 500
    clock.now += 301
    assert await cache.keys(jwks_server.url()) == first  # the failed fetch keeps the old set
    assert await cache.keys(jwks_server.url()) == first  # and is not retried within the cooldown
    assert jwks_server.hits["/jwks"] == 2
    clock.now += client_jwks.STALE_IF_ERROR  # too old now
    with pytest.raises(JwksUnavailable):
        await cache.keys(jwks_server.url())
    with pytest.raises(JwksUnavailable):  # within the cooldown: no new request
        await cache.keys(jwks_server.url())
    assert jwks_server.hits["/jwks"] == 3
    jwks_server.status = 200
    clock.now += client_jwks.REFETCH_COOLDOWN
    assert await cache.keys(jwks_server.url()) == first


async def test_failure_without_a_cached_set(jwks_server: JwksServer) -> None:
    jwks_server.status = 404
    cache = _jwks(jwks_server, Clock())
    with pytest.raises(JwksUnavailable, match="no usable keys"):
        await cache.keys(jwks_server.url())
    assert await cache.refetch(jwks_server.url(), {"keys": []}) == {"keys": []}  # (cooldown: nothing fetched)


@pytest.mark.parametrize(("path", "outcome"), [
    ("/big", "too_large"), ("/text", "invalid"), ("/gzip", "invalid"), ("/redirect", "http_status"),
    ("/private", "invalid"), ("/nothing", "http_status")])
async def test_refused_answers(jwks_server: JwksServer, path: str, outcome: str) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    cache = _jwks(jwks_server, Clock())
    with pytest.raises(JwksUnavailable) as failed:
        await cache.download(jwks_server.url(path))
    assert failed.value.outcome == outcome
    assert jwks_server.hits["/jwks"] == 0  # the redirect was not followed


async def test_slow_answer_times_out(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    cache = _jwks(jwks_server, Clock(), timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(JwksUnavailable) as failed:
        await cache.download(jwks_server.url("/slow"))
    assert failed.value.outcome == "timeout" and loop.time() - started < 2


async def test_refused_uris(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    cache = _jwks(jwks_server, Clock())
    for uri in (jwks_server.url().replace("https:", "http:"), f"https://127.0.0.2:{jwks_server.port}/jwks",
                f"https://user:pw@{jwks_server.host}/jwks", jwks_server.url() + "#f"):
        with pytest.raises(JwksUnavailable) as failed:
            await cache.download(uri)
        assert failed.value.outcome == "refused", uri
    # the allow-list is read at every fetch: a host the operator removed is no longer fetched
    removed = ClientJwks(("other.example",), jwks_server.ca_file, clock=Clock())
    with pytest.raises(JwksUnavailable, match="not allowed"):
        await removed.download(jwks_server.url())
    assert jwks_server.hits["/jwks"] == 0


async def test_a_host_name_resolving_to_loopback_is_refused(jwks_server: JwksServer) -> None:
    """``localhost`` is on the list, but resolves to a loopback address: only an IP literal entry allows that."""
    jwks_server.jwks = KeyPair("ES256").jwks
    cache = ClientJwks((f"localhost:{jwks_server.port}",), jwks_server.ca_file, clock=Clock())
    with pytest.raises(JwksUnavailable, match="non-public") as failed:
        await cache.download(f"https://localhost:{jwks_server.port}/jwks")
    assert failed.value.outcome == "refused" and jwks_server.hits["/jwks"] == 0


async def test_untrusted_certificate(jwks_server: JwksServer) -> None:
    jwks_server.jwks = KeyPair("ES256").jwks
    cache = ClientJwks((jwks_server.host,), None, clock=Clock())  # the system store: not the test CA
    with pytest.raises(JwksUnavailable) as failed:
        await cache.download(jwks_server.url())
    assert failed.value.outcome == "network"


def test_check_jwks_uri() -> None:
    hosts = ("keys.example", "10.0.0.5:8443", "[::1]:9000")
    assert check_jwks_uri("https://keys.example/jwks", hosts) == "https://keys.example/jwks"
    assert check_jwks_uri("https://KEYS.example:443/j", hosts)
    assert check_jwks_uri("https://10.0.0.5:8443/j", hosts) and check_jwks_uri("https://[::1]:9000/j", hosts)
    with pytest.raises(ApiError, match="not supported"):
        check_jwks_uri("https://keys.example/jwks", ())
    cases: list[tuple[object, str]] = [
        ("http://keys.example/jwks", "https"), ("https://keys.example:8443/j", "not allowed"),
        ("https://evil.example/j", "not allowed"), ("https://a@keys.example/j", "credentials"),
        ("https://keys.example/j#x", "fragment"), ("https://keys.example:99999/j", "valid"),
        ("", "URL"), (5, "URL"), ("https:///j", "https"), ("x" * 2001, "URL")]
    for uri, says in cases:
        with pytest.raises(ApiError, match=says):
            check_jwks_uri(uri, hosts)
    assert host_key("::1", 9000) == "[::1]:9000" and host_key("A.example", None) == "a.example"


def test_parse_jwks() -> None:
    key = KeyPair("ES256", kid="s")
    enc = dict(KeyPair("ES256", kid="e").jwk, use="enc")
    assert parse_jwks(json.dumps({"keys": [key.jwk, enc], "extra": 1}).encode()) == key.jwks
    for body in (b"[]", b'{"keys": {}}', b"\xff", b'{"keys": []}'):
        with pytest.raises(JwksUnavailable):
            parse_jwks(body)


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_jwks, "MAX_URIS", 3)
    cache = ClientJwks(("a.example",))
    for i in range(5):
        cache._entry(f"https://a.example/{i}")
    assert list(cache._entries) == [f"https://a.example/{i}" for i in (2, 3, 4)]


async def test_rebinding_caught_at_the_connection(jwks_server: JwksServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name resolves to a public address when checked, then the connection lands on loopback (a DNS answer
    that changed in between): the connected address is checked before the answer is read."""
    jwks_server.jwks = KeyPair("ES256").jwks

    loop = asyncio.get_running_loop()
    real, answers = loop.getaddrinfo, []

    async def rebinding(host, port, **kw):  # the first answer public, the next ones the real (loopback)
        answers.append(host)
        return [(2, 1, 6, "", ("93.184.216.34", port))] if len(answers) == 1 else await real(host, port, **kw)
    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    cache = ClientJwks((f"localhost:{jwks_server.port}",), jwks_server.ca_file, clock=Clock())
    with pytest.raises(JwksUnavailable, match="connected to a non-public address"):
        await cache.download(f"https://localhost:{jwks_server.port}/jwks")


async def test_a_public_host_name_is_fetched(jwks_server: JwksServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host name whose addresses are public (here: loopback counted as public) is fetched."""
    jwks_server.jwks = KeyPair("ES256").jwks
    monkeypatch.setattr(client_jwks, "_internal", lambda address: False)
    cache = ClientJwks((f"localhost:{jwks_server.port}",), jwks_server.ca_file, clock=Clock())
    fetched = await cache.download(f"https://localhost:{jwks_server.port}/jwks")
    assert fetched.jwks == jwks_server.jwks and fetched.ttl == client_jwks.DEFAULT_TTL


def test_internal_addresses() -> None:
    internal = client_jwks._internal
    assert internal("127.0.0.1") and internal("10.1.2.3") and internal("169.254.169.254") and internal("::1")
    assert internal("::ffff:192.168.0.1") and internal("fe80::1%eth0") and internal("100.64.0.1")
    assert internal("224.0.0.1") and internal("0.0.0.0")
    assert not internal("93.184.216.34") and not internal("2606:4700::1111")


async def test_refetch_failures(jwks_server: JwksServer) -> None:
    """An unknown kid while the server fails: the cached set while usable, then JwksUnavailable."""
    jwks_server.jwks = KeyPair("ES256", kid="a").jwks
    clock = Clock()
    cache = _jwks(jwks_server, clock)
    seen = await cache.keys(jwks_server.url())
    jwks_server.status = 500
    clock.now += client_jwks.REFETCH_COOLDOWN
    assert await cache.refetch(jwks_server.url(), seen) is seen
    clock.now += client_jwks.DEFAULT_TTL + client_jwks.STALE_IF_ERROR
    with pytest.raises(JwksUnavailable):
        await cache.refetch(jwks_server.url(), seen)
    assert jwks_server.hits["/jwks"] == 3


async def test_a_failure_is_logged_and_counted(jwks_server: JwksServer, caplog: pytest.LogCaptureFixture) -> None:
    from keyturn import metrics
    jwks_server.status = 500
    before = metrics.JWKS_URI_FETCHES.labels("http_status")._value.get()
    with caplog.at_level("WARNING", logger="keyturn.client_jwks"), pytest.raises(JwksUnavailable):
        await _jwks(jwks_server, Clock()).keys(jwks_server.url())
    assert metrics.JWKS_URI_FETCHES.labels("http_status")._value.get() == before + 1
    assert f"jwks_uri fetch failed (http_status): HTTP 500 (redirects are not followed); jwks_uri={jwks_server.url()}" \
        in caplog.text
