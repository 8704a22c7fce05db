"""keyturn.services.outage: which exceptions mean "the database is unavailable", and the outage log;
the bound of keyturn.storage.db.BoundedEngine on SQLite (no connection to terminate: the wait is cancelled);
what keeps answering without the database (keys, origins) and readiness's keys check."""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from keyturn.services import origin_index, outage
from keyturn.services.context import Services
from keyturn.services.keyring import KeyRing
from keyturn.services.readiness import ReadinessProbe
from keyturn.services.writes import GroupCommit
from keyturn.storage.db import BoundedConnection, BoundedEngine, make_engine


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(orig: BaseException, cls: type[DBAPIError] = DBAPIError) -> DBAPIError:
    return cls("SELECT 1", None, orig)


class ConnectionDoesNotExistError(Exception):
    """Named like asyncpg's, raised outside SQLAlchemy."""


@pytest.mark.parametrize(("exc", "kind"), [
    (_wrapped(_PgError("08006")), "connection"),
    (_wrapped(_PgError("57P01")), "connection"),  # admin_shutdown
    (_wrapped(_PgError("53300")), "resources"),  # too_many_connections
    (_wrapped(_PgError("53100")), "resources"),  # disk_full
    (_wrapped(_PgError("40001")), "conflict"),  # serialization_failure outside group commit
    (_wrapped(_PgError("40P01")), "conflict"),
    (PoolTimeout("QueuePool limit"), "pool"),
    (TimeoutError("bound"), "timeout"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection"),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "connection"),
    (_wrapped(OSError("wrapped")), "connection"),
    (InterfaceError("SELECT 1", None, Exception("closed")), "connection"),
    (DBAPIError("SELECT 1", None, Exception("x"), connection_invalidated=True), "connection"),
    (ConnectionDoesNotExistError("gone"), "connection"),
    (OperationalError("UPDATE", None, sqlite3.OperationalError("attempt to write a readonly database")),
     "operational"),
    (OperationalError("INSERT", None, sqlite3.OperationalError("database or disk is full")), "operational"),
])
def test_classify_names_the_kind_of_unavailability(exc: BaseException, kind: str) -> None:
    assert outage.classify(exc) == kind


@pytest.mark.parametrize("exc", [
    ValueError("a bug"),
    IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed")),
    _wrapped(_PgError("23505"), IntegrityError),  # unique_violation: not the database's availability
    FileNotFoundError("template"),
    PermissionError("policy file"),
])
def test_classify_leaves_everything_else_alone(exc: BaseException) -> None:
    assert outage.classify(exc) is None


def test_the_cause_chain_is_followed_once_even_when_it_loops() -> None:
    inner = ConnectionRefusedError("refused")
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    inner.__context__ = outer  # a loop: walked once
    assert outage.classify(outer) == "connection"
    assert outage.sqlstate(outer) is None


def test_the_outage_log_counts_failures_and_reports_the_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    log = outage.OutageLog()
    caplog.set_level(logging.INFO, logger="keyturn.database")
    log.succeeded()  # no outage: nothing to say
    assert not caplog.records
    log.failed("connection", "POST /token")
    log.failed("timeout", "GET /api/v2/credential")
    log.succeeded()
    log.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:2] == ["database unavailable (connection): POST /token answered 503",
                         "database unavailable (timeout): GET /api/v2/credential answered 503"]
    assert len(lines) == 3 and lines[2].startswith("database available again after ")
    assert lines[2].endswith("s, 2 requests failed")


async def test_a_sqlite_block_past_the_bound_is_cancelled_as_a_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/b.db", pool_size=1, timeout=0.2)
    assert isinstance(engine, BoundedEngine) and engine.bound == 0.2
    seen: list[bool] = []
    engine.on_available = lambda: seen.append(True)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert seen == [True]
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with engine.connect() as conn:
                await asyncio.sleep(5)  # a block that outlives the bound
        assert time.monotonic() - started < 1.0
        assert seen == [True]  # a failed block is not "available again"
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the bound's cancellation was taken back
        with pytest.raises(ValueError):  # an error of the block itself passes through untouched
            async with engine.begin() as conn:
                raise ValueError("mine")
        unbounded = engine.unbounded()  # migrations: the same pool, no bound
        assert isinstance(unbounded, BoundedEngine) and unbounded.bound is None
        assert unbounded.sync_engine is engine.sync_engine
        async with unbounded.begin() as conn:
            await asyncio.sleep(0.3)
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_waiting_for_a_pooled_connection_counts_against_the_bound(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/p.db", pool_size=1, timeout=0.3)
    engine.sync_engine.pool._max_overflow = 0  # type: ignore[attr-defined]  # one connection in all
    try:
        async with engine.unbounded().connect():  # holds the one connection past the bound
            started = time.monotonic()
            with pytest.raises((TimeoutError, PoolTimeout)) as caught:
                async with engine.connect():
                    pass
            assert time.monotonic() - started < 1.0
            assert outage.classify(caught.value) in ("timeout", "pool")
    finally:
        await engine.dispose()


class _Down:
    """An engine whose every connection fails, like a stopped server's."""

    dialect: Any = None

    def connect(self) -> Any:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")

    begin = connect


class _Broken(_Down):
    def connect(self) -> Any:
        raise RuntimeError("a bug")

    begin = connect


async def test_keys_stay_when_a_background_reload_fails(ctx: Services, caplog: pytest.LogCaptureFixture) -> None:
    ring: KeyRing = ctx.keys
    published = ring.published(ctx.clock())
    for engine, level in ((_Down(), logging.WARNING), (_Broken(), logging.ERROR)):
        ring.engine = engine  # type: ignore[assignment]
        caplog.clear()
        await ring.maybe_reload(ring._loaded_at + 60)
        assert ring._background is not None
        await asyncio.wait_for(asyncio.shield(ring._background), 5)
        assert ring.published(ctx.clock()) == published and ring.loaded
        assert [r.levelno for r in caplog.records if r.name == "keyturn.keys"] == [level]
    await ring.maybe_reload(ring._loaded_at + 60)  # stopped while running: cancelled
    await ring.stop()
    await ring.stop()


async def test_the_origin_index_keeps_its_answers_when_the_database_is_unavailable(
        ctx: Services, caplog: pytest.LogCaptureFixture) -> None:
    index = origin_index.OriginIndex(_Down())  # type: ignore[arg-type]
    assert await index.allows("https://a.example", 0.0) is False  # never built: no origin
    index.engine = ctx.engine
    index._exact = frozenset({"https://a.example"})  # as a build would leave it
    index._built, index._answers, index._until = True, {}, 0.0
    index.engine = _Down()  # type: ignore[assignment]
    assert await index.allows("https://a.example", 10.0) is True  # stale, kept
    assert index._until == 10.0 + origin_index.RETRY_SECONDS
    messages = [r.getMessage() for r in caplog.records if r.name == "keyturn.origins"]
    assert "allowing no origin meanwhile" in messages[0] and "answering from the last build" in messages[1]
    index.engine = _Broken()  # type: ignore[assignment]
    with pytest.raises(RuntimeError):  # a bug is not an outage
        await index.allows("https://a.example", 100.0)


async def test_readiness_names_missing_keys(ctx: Services) -> None:
    ring = KeyRing(ctx.engine, ctx.settings)  # never loaded
    result = await ReadinessProbe(ctx.engine, ring).check()
    assert result.failing == "keys" and result.checks["keys"].startswith("failed")
    assert result.as_dict()["status"] == "not ready"


async def test_a_ring_never_loaded_loads_before_answering(ctx: Services) -> None:
    ring = KeyRing(ctx.engine, ctx.settings)
    assert not ring.loaded
    await ring.maybe_reload(ctx.clock())  # nothing in memory to answer with: loaded now, not in the background
    assert ring.loaded and ring._background is None


async def test_a_closed_connection_has_no_driver_connection_to_interrupt(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db", pool_size=1, timeout=1.0)
    try:
        conn = engine.connect()
        assert isinstance(conn, BoundedConnection) and conn._driver_connection() is None  # not started
        await conn.start()
        assert conn._driver_connection() is not None
        await conn.close()
        assert conn._driver_connection() is None
    finally:
        await engine.dispose()


async def test_a_split_batch_whose_first_half_loses_the_database_fails_the_second_at_once(ctx: Services) -> None:
    calls: list[int] = []

    async def flaky(conn: Any, items: Sequence[int]) -> list[int]:
        calls.append(len(items))
        if len(calls) == 1:
            raise RuntimeError("a bug: split the batch")
        raise ConnectionResetError(errno.ECONNRESET, "the database went away")

    writes = GroupCommit(ctx.engine)
    results = await asyncio.gather(*(writes.submit(flaky, i) for i in range(4)), return_exceptions=True)
    assert calls == [4, 2]  # the second half never ran: it failed with the first
    assert all(isinstance(r, ConnectionResetError) for r in results)
    assert writes.stats.splits == 1 and writes.waiting == 0


async def test_a_migration_statement_may_outlive_the_bound(database_url: str) -> None:
    """The bound ends a request's block, never a migration's long statement (a CREATE INDEX on a large table):
    no driver-level statement timeout is set on the pool that migrations share."""
    engine = make_engine(database_url, pool_size=1, timeout=0.3)
    slow = "SELECT pg_sleep(0.8)" if engine.dialect.name == "postgresql" else (  # SQLite: ≈ 1.6 s here
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000000) SELECT count(*) FROM n")
    try:
        started = time.monotonic()
        async with engine.unbounded().begin() as conn:
            await conn.execute(text(slow))
        assert time.monotonic() - started > 0.3
        with pytest.raises(TimeoutError):
            async with engine.begin() as conn:
                await conn.execute(text(slow))
    finally:
        await engine.dispose()
