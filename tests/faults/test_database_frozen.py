"""Issue 12 item 2: no request waits past KEYTURN_DATABASE_TIMEOUT. PostgreSQL frozen (SIGSTOP: connections
open, nothing answers): token, introspection and management requests answer 503 within the bound plus ~1 s,
and once thawed the same requests succeed again.

In-process (the front `keyturn serve` runs) against a throwaway PostgreSQL cluster this test freezes.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from keyturn.services.context import Services
from tests.conftest import CredentialFixture, UserFixture
from tests.pgcluster import Cluster

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timing]
BOUND = 1.0


@pytest.fixture
def database_url(pg_cluster: Cluster) -> str:
    return pg_cluster.url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"database_timeout": BOUND}


async def _timed(call: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    r = await call
    return time.monotonic() - started, r


async def test_every_request_answers_within_the_bound_while_the_database_is_frozen(
        client: httpx.AsyncClient, ctx: Services, pg_cluster: Cluster,
        make_user: Callable[..., Awaitable[UserFixture]],
        make_credential: Callable[..., Awaitable[CredentialFixture]]) -> None:
    user = await make_user()
    cred = await make_credential(owner=user)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]

    def token_request() -> Awaitable[httpx.Response]:
        return client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)

    def introspection() -> Awaitable[httpx.Response]:
        return client.post("/introspect", data={"token": token}, auth=cred.basic)

    def management() -> Awaitable[httpx.Response]:
        return client.get("/api/v2/credential", headers=user.headers)

    pg_cluster.freeze()
    try:
        timings: dict[str, list[float]] = {"token": [], "introspection": [], "management": []}
        for _ in range(2):  # sequential and concurrent: pooled connections, then new ones (connect hangs)
            results = await asyncio.gather(*(_timed(make()) for make in (token_request, introspection, management)
                                             for _ in range(4)))
            for (elapsed, r), name in zip(results, [n for n in timings for _ in range(4)], strict=True):
                assert r.status_code == 503, (name, r.status_code, r.text)
                assert r.headers["retry-after"] == "2"
                timings[name].append(elapsed)
        slowest = max(t for ts in timings.values() for t in ts)
        summary = {name: (round(statistics.median(ts), 3), round(max(ts), 3)) for name, ts in timings.items()}
        print(f"frozen PostgreSQL, bound {BOUND} s: (median, slowest) {summary}")
        assert slowest < BOUND + 1.0, summary
        # a document that needs no database is not held up by the frozen one
        elapsed, r = await _timed(client.get("/.well-known/jwks.json"))
        assert r.status_code == 200 and elapsed < 0.5
    finally:
        pg_cluster.thaw()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = await token_request()
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200, r.text
    assert (await introspection()).json()["active"] is True
    assert (await management()).status_code == 200
