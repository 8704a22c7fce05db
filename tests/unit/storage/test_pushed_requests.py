"""Pushed authorization requests in storage (RFC 9126 §4) on SQLite and PostgreSQL: consumed once, by their
own client, while live; two consumers at once: exactly one wins, at every isolation level the database
defaults to (each session is pinned at READ COMMITTED, services/writes.py; tests/faults/test_par_races.py)."""

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


async def test_consumed_once_by_its_client_while_live(ctx: Services, clock: Clock) -> None:
    rp, other = await make_client(ctx), await make_client(ctx)
    now = clock.now
    await _stored(ctx, rp["client_id"], now)
    async with ctx.engine.begin() as conn:
        assert await store.consume_pushed_request(conn, "d1", other["client_id"], now) is None
        assert await store.consume_pushed_request(conn, "nope", rp["client_id"], now) is None
        assert await store.consume_pushed_request(conn, "d1", rp["client_id"], now + 60) is None  # expired
        assert await store.consume_pushed_request(conn, "d1", rp["client_id"], now + 70, leeway=10) is None
        got = await store.consume_pushed_request(conn, "d1", rp["client_id"], now + 59)
        assert got is not None and got.params == {"state": "s", "scope": "openid"} and got.used_at == now + 59
        assert await store.consume_pushed_request(conn, "d1", rp["client_id"], now + 59) is None
        seen = await store.find_pushed_request(conn, "d1")
        assert seen is not None and seen.used_at == now + 59
        assert await store.find_pushed_request(conn, "nope") is None


async def test_two_nodes_consuming_at_once_one_wins(ctx: Services, clock: Clock) -> None:
    """Two nodes consume one request_uri at once: one gets it, the others nothing (no error, no second use).
    (Every isolation level a PostgreSQL database may default to: tests/faults/test_par_races.py.)"""
    rp = await make_client(ctx)
    now = clock.now
    other = build_services(ctx.settings, clock)  # a second node on the same database
    try:
        for round_ in range(5):
            key = f"race-{round_}"
            await _stored(ctx, rp["client_id"], now, key)

            async def consume(node: Services, k: str = key) -> bool:
                async with node.engine.begin() as conn:
                    return await store.consume_pushed_request(conn, k, rp["client_id"], now) is not None

            results = await asyncio.gather(consume(ctx), consume(other), consume(ctx), consume(other))
            assert sorted(results) == [False, False, False, True]
    finally:
        await other.engine.dispose()
