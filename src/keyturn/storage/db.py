"""Engine creation and migrations. No engine exists at import time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

log = logging.getLogger("keyturn.storage")
MIGRATIONS = Path(__file__).parent / "migrations"


class SQLiteEngine(AsyncEngine):
    """``begin()`` marks its connection as a writer: SQLite then starts it with BEGIN IMMEDIATE.

    Writers take the write lock up front and queue on ``busy_timeout`` instead of failing with
    "database is locked" when a read-then-write transaction upgrades its lock. Readers
    (``connect()``) start with a plain deferred BEGIN and, in WAL mode, never wait for writers.
    """

    _writer: asyncio.Lock | None = None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        # One writer at a time per worker: SQLite has one write lock anyway, and queueing here
        # (instead of in SQLite's busy handler) keeps the wait fair and never "database is locked".
        if self._writer is None:
            self._writer = asyncio.Lock()
        async with self._writer, self.connect() as conn:
            await conn.execution_options(keyturn_write=True)
            async with conn.begin():
                yield conn


def make_engine(url: str, *, pool_size: int = 10, timeout: float = 5.0) -> AsyncEngine:
    if url.startswith("sqlite"):
        # No rollback when a connection returns to the pool: every transaction here is SQLAlchemy's, which
        # commits or rolls back itself, and each reset was one more trip to aiosqlite's thread (≈ 0.1 ms).
        engine = SQLiteEngine(create_async_engine(
            url, connect_args={"timeout": timeout}, pool_size=pool_size, max_overflow=pool_size * 2,
            pool_timeout=timeout, pool_reset_on_return=None).sync_engine)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            # Let us emit BEGIN ourselves (below) so that writers take the lock up front and
            # wait on busy_timeout instead of failing with "database is locked" on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            writer = conn.get_execution_options().get("keyturn_write")
            # One trip to aiosqlite's thread (its Connection.execute), where exec_driver_sql made three
            # (cursor, execute, close).
            await_only(conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if writer else "BEGIN"))

        return engine
    connect_args: dict[str, Any] = {"timeout": timeout, "command_timeout": max(timeout, 10.0)}
    if "schema=" in url:  # test isolation: postgresql+asyncpg://.../test?schema=foo
        base, _, schema = url.partition("?schema=")
        connect_args["server_settings"] = {"search_path": schema}
        url = base
    if pool_size == 0:
        return create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    pg = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeout,
                             connect_args=connect_args)
    _ping_when_idle(pg)
    return pg


IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only if it sat idle for IDLE_PING_SECONDS.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per
    transaction (≈0.5 ms here, as long as the rest of a cached read). A connection in
    constant use needs no ping; one idle long enough for the server to have restarted or
    a proxy to have dropped it is pinged, and replaced if dead (the pool retries the
    checkout on ``DisconnectionError``). A server restart *under load* can still fail the
    requests that were using the old connections; the pool then discards them all.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:  # noqa: BLE001 - any failure means: not this connection
            raise DisconnectionError("pooled connection is dead") from exc


def _alembic_config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _upgrade(conn: Connection) -> None:
    command.upgrade(_alembic_config(conn), "head")


def _pending(conn: Connection) -> list[str]:
    """The revisions an upgrade to head would apply, in the order it applies them: every revision that
    is neither a current head nor an ancestor of one (a database mid-chain has applied its ancestors)."""
    script = ScriptDirectory.from_config(_alembic_config(conn))
    current = MigrationContext.configure(conn).get_current_heads()
    applied = {rev.revision for head in current for rev in script.iterate_revisions(head, "base") if rev}
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))
            if rev.revision not in applied]


async def migrate(engine: AsyncEngine) -> None:
    """Apply pending Alembic migrations (what ``keyturn serve`` and ``keyturn migrate`` do)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_pending)
