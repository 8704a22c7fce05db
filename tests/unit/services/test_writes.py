"""services/writes.GroupCommit on a real database (SQLite and PostgreSQL): outcomes, retries, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from keyturn.core.errors import TemporarilyUnavailable
from keyturn.services.writes import RETRIES, GroupCommit, one_statement


class _Conflict(Exception):
    sqlstate = "40001"  # serialization_failure, as asyncpg reports it


async def test_a_serialization_failure_retries_the_whole_batch(ctx):
    calls: list[list[int]] = []

    async def flaky(conn: Any, items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            raise DBAPIError("UPDATE refresh_tokens …", None, _Conflict("could not serialize access"))
        return [i * 2 for i in items]

    assert await ctx.writes.submit(flaky, 21) == 42
    assert calls == [[21], [21]] and ctx.writes.stats.retries == 1


async def test_retries_are_bounded_and_the_error_reaches_every_member(ctx):
    attempts = 0

    async def always_conflicts(conn: Any, items: Sequence[int]) -> list[int]:
        nonlocal attempts
        attempts += 1
        raise DBAPIError("UPDATE …", None, _Conflict("could not serialize access"))

    with pytest.raises(TemporarilyUnavailable) as refused:  # 503 temporarily_unavailable, never a 500
        await ctx.writes.submit(always_conflicts, 1)
    assert attempts == RETRIES + 1 and refused.value.retry_after == 1


async def test_outcomes_are_per_item_and_kinds_share_the_transaction(ctx):
    seen: list[tuple[str, int]] = []

    async def double(conn: Any, items: Sequence[int]) -> list[Any]:
        seen.append(("double", len(items)))
        return [ValueError("odd") if i % 2 else i * 2 for i in items]

    async def negate(conn: Any, items: Sequence[int]) -> list[int]:
        seen.append(("negate", len(items)))
        return [-i for i in items]

    results = await asyncio.gather(*[ctx.writes.submit(double if i < 4 else negate, i) for i in range(6)])
    assert results[0] == 0 and results[2] == 4 and results[4:] == [-4, -5]
    assert isinstance(results[1], ValueError) and isinstance(results[3], ValueError)  # an outcome, not a failure
    assert sum(n for _, n in seen) == 6 and ctx.writes.stats.failed == 0


async def test_a_batch_function_that_answers_the_wrong_count_fails_its_units(ctx):
    async def short(conn: Any, items: Sequence[int]) -> list[int]:
        return []

    with pytest.raises(RuntimeError):
        await ctx.writes.submit(short, 1)


async def test_drain_waits_for_queued_units(ctx):
    gate = asyncio.Event()

    async def slow(conn: Any, items: Sequence[int]) -> list[int]:
        await gate.wait()
        return list(items)

    pending = [asyncio.ensure_future(ctx.writes.submit(slow, i)) for i in range(3)]
    await asyncio.sleep(0.01)
    drained = asyncio.ensure_future(ctx.writes.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    gate.set()
    await drained
    assert [p.result() for p in pending] == [0, 1, 2]


def test_a_batch_holds_at_least_one_unit(ctx):
    with pytest.raises(ValueError):
        GroupCommit(ctx.engine, 0)


async def test_a_batch_of_one_statement_kinds_needs_no_transaction_on_postgresql(ctx):
    autocommit: list[bool] = []

    async def driver_autocommits(conn: Any) -> bool:  # the DBAPI adapter sends no BEGIN
        return bool(getattr((await conn.get_raw_connection()).dbapi_connection, "autocommit", False))

    @one_statement
    async def probe(conn: Any, items: Sequence[int]) -> list[int]:
        autocommit.append(await driver_autocommits(conn))
        return list(items)

    async def plain(conn: Any, items: Sequence[int]) -> list[int]:
        autocommit.append(await driver_autocommits(conn))
        return list(items)

    assert await ctx.writes.submit(probe, 1) == 1
    assert await ctx.writes.submit(plain, 2) == 2
    # PostgreSQL: a batch of one-statement kinds runs in autocommit (one round trip); anything else, and every
    # batch on SQLite, in a transaction.
    postgres = ctx.engine.dialect.name == "postgresql"
    assert autocommit == [postgres, False]
