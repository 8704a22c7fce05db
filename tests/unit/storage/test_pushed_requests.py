"""Pushed authorization requests in storage (RFC 9126 §4) on SQLite and PostgreSQL: found by digest, spent
once by their own client; two nodes spending at once: exactly one wins (each session is pinned at READ
COMMITTED, services/writes.py; every isolation level a PostgreSQL database may default to:
tests/faults/test_par_races.py)."""

from __future__ import annotations

import asyncio

from keyturn.core.models import PushedRequest
from keyturn.services.context import Services, build_services
from keyturn.storage import pushed_requests as store
from tests.conftest import Clock
from tests.oidc.helpers import make_client


async def _stored(ctx: Services, client_id: str, now: float, key: str = "d1") -> PushedRequest:
    record = PushedRequest(digest=key, client_id=client_id, params={"state": "s", "scope": "openid"},
                           created_at=now, expires_at=now + 60, used_at=None)
    async with ctx.engine.begin() as conn:
        await store.insert_pushed_request(conn, record)
    return record


async def test_found_by_digest_and_spent_once_by_its_client(ctx: Services, clock: Clock) -> None:
    rp, other = await make_client(ctx), await make_client(ctx)
    now = clock.now
    record = await _stored(ctx, rp["client_id"], now)
    async with ctx.engine.begin() as conn:
        assert await store.find_pushed_request(conn, "d1") == record
        assert await store.find_pushed_request(conn, "nope") is None
        assert not await store.spend_pushed_request(conn, "d1", other["client_id"], now)
        assert not await store.spend_pushed_request(conn, "nope", rp["client_id"], now)
        assert await store.spend_pushed_request(conn, "d1", rp["client_id"], now + 500)  # its expiry: the caller's
        assert not await store.spend_pushed_request(conn, "d1", rp["client_id"], now + 501)
        seen = await store.find_pushed_request(conn, "d1")
        assert seen is not None and seen.used_at == now + 500


async def test_two_nodes_spending_at_once_one_wins(ctx: Services, clock: Clock) -> None:
    rp = await make_client(ctx)
    now = clock.now
    other = build_services(ctx.settings, clock)  # a second node on the same database
    try:
        for round_ in range(5):
            key = f"race-{round_}"
            await _stored(ctx, rp["client_id"], now, key)

            async def spend(node: Services, k: str = key) -> bool:
                async with node.engine.begin() as conn:
                    return await store.spend_pushed_request(conn, k, rp["client_id"], now)

            results = await asyncio.gather(spend(ctx), spend(other), spend(ctx), spend(other))
            assert sorted(results) == [False, False, False, True]
    finally:
        await other.engine.dispose()
