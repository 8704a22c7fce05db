"""keyturn.rs JWKSCache timing (issue 12 item 5): age beats cooldown; unknown kids refetch at most once per
min(cooldown, max_age); a failed fetch keeps the cached keys; concurrent callers share one fetch."""

from __future__ import annotations

import asyncio
import json

import pytest

from keyturn.core.jose import generate_private_key, public_jwk
from keyturn.rs import JWKSCache, JWKSUnavailable
from tests.conftest import Clock


class Issuer:
    """What an issuer's /jwks serves, changeable; counts fetches; can be down."""

    def __init__(self) -> None:
        self.keys: list[dict[str, object]] = []
        self.calls = 0
        self.down = False

    def add(self) -> str:
        jwk = public_jwk(generate_private_key("ES256"), "ES256")
        self.keys.append(jwk)
        return str(jwk["kid"])

    async def __call__(self, url: str) -> bytes:
        self.calls += 1
        await asyncio.sleep(0)
        if self.down:
            raise OSError("connection refused")
        return json.dumps({"keys": self.keys}).encode()


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def cache(issuer: Issuer, clock: Clock, **kw: float) -> JWKSCache:
    return JWKSCache("http://issuer/jwks", fetch=issuer, clock=clock, **kw)


async def test_keys_older_than_max_age_are_refetched_whatever_the_cooldown(issuer: Issuer) -> None:
    clock = Clock(1000.0)
    k1 = issuer.add()
    jwks = cache(issuer, clock, max_age=5, cooldown=30)
    assert await jwks.key(k1) is not None and issuer.calls == 1
    k2 = issuer.add()  # pre-published
    clock.advance(5)
    assert await jwks.key(k1) is not None and issuer.calls == 2  # age, not the 30 s cooldown, decides
    assert await jwks.key(k2) is not None and issuer.calls == 2


async def test_unknown_kid_refetches_at_most_once_per_min_of_cooldown_and_max_age(issuer: Issuer) -> None:
    clock = Clock(1000.0)
    k1 = issuer.add()
    jwks = cache(issuer, clock, max_age=300, cooldown=30)
    assert jwks.interval == 30
    await jwks.key(k1)
    clock.advance(29)
    assert await jwks.key("junk") is None and issuer.calls == 1  # fetched 29 s ago: not yet
    clock.advance(1)
    assert await jwks.key("junk") is None and issuer.calls == 2  # one refetch for the unknown kid
    for _ in range(10):
        clock.advance(2.9)
        assert await jwks.key("junk") is None
    assert issuer.calls == 2  # no storm within the cooldown
    clock.advance(1)
    k2 = issuer.add()
    assert await jwks.key(k2) is not None and issuer.calls == 3
    short = cache(issuer, Clock(0.0), max_age=5, cooldown=30)
    assert short.interval == 5


async def test_a_failed_refetch_keeps_the_cached_keys_and_waits_the_interval(issuer: Issuer) -> None:
    clock = Clock(1000.0)
    k1 = issuer.add()
    jwks = cache(issuer, clock, max_age=10, cooldown=30)
    await jwks.key(k1)
    issuer.down = True
    clock.advance(10)
    assert await jwks.key(k1) is not None and issuer.calls == 2  # stale but served
    clock.advance(9)
    assert await jwks.key(k1) is not None and issuer.calls == 2  # next attempt after min(30, 10) s
    issuer.down = False
    clock.advance(1)
    assert await jwks.key(k1) is not None and issuer.calls == 3
    clock.advance(1)
    await jwks.refresh()  # within the interval: nothing
    await jwks.refresh(force=True)
    assert issuer.calls == 4


async def test_never_fetched_and_unreachable_raises(issuer: Issuer) -> None:
    issuer.down = True
    with pytest.raises(JWKSUnavailable):
        await cache(issuer, Clock(0.0)).key("k")


async def test_concurrent_callers_share_one_fetch(issuer: Issuer) -> None:
    clock = Clock(1000.0)
    k1 = issuer.add()
    jwks = cache(issuer, clock, max_age=5, cooldown=30)
    await asyncio.gather(*(jwks.key(k1) for _ in range(50)))
    clock.advance(6)
    await asyncio.gather(*(jwks.key(k1) for _ in range(50)))
    assert issuer.calls == 2
    clock.advance(jwks.interval)
    await asyncio.gather(*(jwks.key("junk") for _ in range(50)))
    assert issuer.calls == 3
