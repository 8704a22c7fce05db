"""Group commit (services/writes.py) through the served app, on SQLite and PostgreSQL.

Writes are held behind one transaction so that the requests under test queue and then run as ONE
batch; ``ctx.writes.stats`` shows the batch's size, so each test knows it tested a batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from keyturn.services.context import Services
from keyturn.storage.tables import audit_events, grants, refresh_tokens
from tests.oidc.helpers import authorize_code, exchange, make_client

CC = {"grant_type": "client_credentials"}


@asynccontextmanager
async def one_batch(ctx: Services, expected: int, batches: list[int] | None = None
                    ) -> AsyncIterator[Callable[[Sequence[Awaitable[Any]]], Any]]:
    """Hold the writer with a transaction that waits; requests started inside queue behind it and, when
    ``expected`` units wait, are released together: they run as one batch (up to ``max_batch``). The sizes of
    the transactions that followed go to ``batches``."""
    batches = [] if batches is None else batches
    gate, started = asyncio.Event(), asyncio.Event()

    async def hold(conn: Any, items: Sequence[None]) -> list[None]:
        started.set()
        await gate.wait()
        return [None] * len(items)

    blocker = asyncio.create_task(ctx.writes.submit(hold, None))
    await started.wait()
    tasks: list[asyncio.Task[Any]] = []

    def start(requests: Sequence[Awaitable[Any]]) -> list[asyncio.Task[Any]]:
        tasks.extend(asyncio.ensure_future(r) for r in requests)
        return tasks

    try:
        yield start
        for _ in range(2000):
            if ctx.writes.waiting >= expected:
                break
            await asyncio.sleep(0.005)
        assert ctx.writes.waiting == expected, f"{ctx.writes.waiting} units queued, expected {expected}"
    finally:
        first = len(ctx.writes.stats.sizes)  # the next transaction is the batch under test
        gate.set()
        await blocker
    await asyncio.gather(*tasks, return_exceptions=True)
    assert ctx.writes.stats.sizes[first] == min(expected, ctx.writes.max_batch), ctx.writes.stats.sizes
    batches.extend(ctx.writes.stats.sizes[first:])


async def count(ctx: Services, table: Any, *where: Any) -> int:
    async with ctx.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def test_one_refresh_token_sent_50_times_in_one_batch(client, ctx, make_credential):
    cred = await make_credential(refresh="1d")
    first = (await client.post("/token", data=CC, auth=cred.basic)).json()
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    async with one_batch(ctx, 50) as start:
        tasks = start([client.post("/token", data=data, auth=cred.basic) for _ in range(50)])
    answers = [t.result() for t in tasks]
    assert sorted(r.status_code for r in answers) == [200] + [400] * 49
    assert {r.json()["error"] for r in answers if r.status_code == 400} == {"invalid_grant"}
    winner = next(r.json() for r in answers if r.status_code == 200)
    # The replays revoked the family: the successor the winner got is refused, so is its access token.
    again = await client.post("/token", data={**data, "refresh_token": winner["refresh_token"]}, auth=cred.basic)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    introspected = await client.post("/introspect", data={"token": winner["access_token"]}, auth=cred.basic)
    assert introspected.json() == {"active": False}
    assert await count(ctx, audit_events, audit_events.c.event == "refresh_token.reuse_detected") == 1


async def test_one_code_sent_50_times_in_one_batch(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    async with one_batch(ctx, 50) as start:
        tasks = start([exchange(client, rp["client_id"], code, verifier) for _ in range(50)])
    answers = [t.result() for t in tasks]
    assert sorted(r.status_code for r in answers) == [200] + [400] * 49
    assert {r.json()["error"] for r in answers if r.status_code == 400} == {"invalid_grant"}
    winner = next(r.json() for r in answers if r.status_code == 200)
    userinfo = await client.get("/userinfo", headers={"Authorization": f"Bearer {winner['access_token']}"})
    assert userinfo.status_code == 401  # the grant issued from the first redemption is revoked (OAuth 2.1 §4.1.3)
    assert await count(ctx, audit_events, audit_events.c.event == "authorization_code.reuse_detected") == 1
    assert await count(ctx, grants, grants.c.client_id == rp["client_id"]) == 1


async def test_a_batch_of_every_kind_commits_each_unit(client, ctx, make_credential, make_user):
    cred = await make_credential(refresh="1d")
    seeds = [(await client.post("/token", data=CC, auth=cred.basic)).json()["refresh_token"] for _ in range(10)]
    user = await make_user()
    rp = await make_client(ctx)
    codes = [await authorize_code(client, rp["client_id"], user) for _ in range(5)]
    async with one_batch(ctx, 25) as start:
        tasks = start([client.post("/token", data=CC, auth=cred.basic) for _ in range(10)]
                      + [client.post("/token", data={"grant_type": "refresh_token", "refresh_token": s},
                                     auth=cred.basic) for s in seeds]
                      + [exchange(client, rp["client_id"], c, v) for c, v, _ in codes])
    answers = [t.result() for t in tasks]
    assert [r.status_code for r in answers] == [200] * 25, [r.text for r in answers if r.status_code != 200]
    fresh = [r.json()["refresh_token"] for r in answers[:20]]
    assert len(set(fresh)) == 20
    # Every refresh token answered was committed: each works exactly once.
    for token in fresh:
        data = {"grant_type": "refresh_token", "refresh_token": token}
        assert (await client.post("/token", data=data, auth=cred.basic)).status_code == 200
    assert await count(ctx, grants, grants.c.client_id == rp["client_id"]) == 5


async def test_a_failing_unit_fails_alone(client, ctx, make_credential):
    cred = await make_credential(refresh="1d")

    async def broken(conn: Any, items: Sequence[None]) -> list[None]:
        await conn.execute(grants.insert().values(id=None))  # a constraint violation: a bug in one unit
        return [None] * len(items)

    async with one_batch(ctx, 11) as start:
        tasks = start([client.post("/token", data=CC, auth=cred.basic) for _ in range(10)]
                      + [ctx.writes.submit(broken, None)])
    assert [t.result().status_code for t in tasks[:10]] == [200] * 10
    assert tasks[10].exception() is not None
    assert ctx.writes.stats.splits >= 1
    assert await count(ctx, refresh_tokens) == 10  # each of the others committed


async def test_a_failed_transaction_answers_every_member_and_writes_nothing(client, ctx, make_credential):
    cred = await make_credential(refresh="1d")
    seed = (await client.post("/token", data=CC, auth=cred.basic)).json()["refresh_token"]
    before = (await count(ctx, grants), await count(ctx, refresh_tokens))

    async def database_lost(conn: Any, items: Sequence[None]) -> list[None]:
        if conn.dialect.name == "postgresql":  # the server ends this connection, mid-transaction
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        raise OperationalError("COMMIT", None, sqlite3.OperationalError("disk I/O error"))

    async with one_batch(ctx, 11) as start:
        tasks = start([client.post("/token", data=CC, auth=cred.basic) for _ in range(5)]
                      + [client.post("/token", data={"grant_type": "refresh_token", "refresh_token": seed},
                                     auth=cred.basic)]
                      + [client.post("/token", data=CC, auth=cred.basic) for _ in range(4)]
                      + [ctx.writes.submit(database_lost, None)])
    answers = [t.result() for t in tasks[:10]]
    # the database is lost, not a client's fault: 503 temporarily_unavailable with Retry-After (issue 12 item 1)
    assert [(r.status_code, r.json()["error"], r.headers["retry-after"]) for r in answers] == [
        (503, "temporarily_unavailable", "2")] * 10
    assert tasks[10].exception() is not None
    assert (await count(ctx, grants), await count(ctx, refresh_tokens)) == before  # nothing half-written
    # The refresh token was not consumed: the failed transaction left it usable.
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": seed}, auth=cred.basic)
    assert r.status_code == 200, r.text


async def test_an_idle_server_commits_a_lone_write_at_once(client, ctx, make_credential):
    cred = await make_credential(refresh="1d")
    before = ctx.writes.stats.transactions
    r = await client.post("/token", data=CC, auth=cred.basic)
    assert r.status_code == 200 and "refresh_token" in r.json()
    assert ctx.writes.stats.transactions == before + 1 and ctx.writes.stats.sizes[-1] == 1


@pytest.mark.parametrize("settings_overrides", [{"write_batch": 4}])
async def test_batches_are_bounded(client, ctx, make_credential, settings_overrides):
    cred = await make_credential(refresh="1d")
    batches: list[int] = []
    async with one_batch(ctx, 10, batches) as start:
        tasks = start([client.post("/token", data=CC, auth=cred.basic) for _ in range(10)])
    assert [t.result().status_code for t in tasks] == [200] * 10
    assert batches == [4, 4, 2]  # at most KEYTURN_WRITE_BATCH a transaction
