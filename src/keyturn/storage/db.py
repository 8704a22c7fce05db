"""Engine creation and migrations. No engine exists at import time.

Every engine :func:`make_engine` builds is a :class:`BoundedEngine`: each ``connect()`` or
``begin()`` block (pool wait, connecting, every statement, the commit) must end within ``bound``
seconds (``KEYTURN_DATABASE_TIMEOUT``), or it fails with ``TimeoutError``. On PostgreSQL the
connection in use is then terminated, so the statement in flight fails at once (a frozen server
never answers a cancel); a block still waiting for a connection is cancelled. asyncpg's own
``command_timeout`` is not set: it would apply to every statement of every connection of the
pool, also to a migration's ``CREATE INDEX`` on a large table. Work that may take longer
(migrations, a background job) asks for :meth:`BoundedEngine.unbounded`, the same pool without
the bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
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

from keyturn import metrics

log = logging.getLogger("keyturn.storage")
MIGRATIONS = Path(__file__).parent / "migrations"


class BoundedConnection(AsyncConnection):
    """An ``AsyncConnection`` whose ``async with`` block is bounded by its engine's ``bound`` (module docstring)."""

    _timer: asyncio.TimerHandle | None = None
    _expired: bool = False
    _cancelled: bool = False
    _task: asyncio.Task[Any] | None = None

    def _bound(self) -> float | None:
        engine = self.engine
        return engine.bound if isinstance(engine, BoundedEngine) else None

    async def __aenter__(self) -> AsyncConnection:
        limit = self._bound()
        if limit is None:
            return await super().__aenter__()
        self._task = asyncio.current_task()
        self._timer = asyncio.get_running_loop().call_later(limit, self._expire)
        try:
            return await super().__aenter__()
        except BaseException as exc:
            self._stop_timer()
            if self._expired:
                raise self._timeout(exc) from None
            raise

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        try:
            await super().__aexit__(type_, value, traceback)
        finally:
            self._stop_timer()
        if self._expired:
            raise self._timeout(value) from None
        engine = self.engine
        if type_ is None and isinstance(engine, BoundedEngine) and engine.on_available is not None:
            engine.on_available()

    def _expire(self) -> None:
        """The bound is reached: fail the statement in flight now (terminate), or cancel the wait."""
        self._expired = True
        raw = self._driver_connection()
        if raw is not None and hasattr(raw, "terminate"):
            raw.terminate()  # asyncpg: the awaiting statement fails at once; the pool drops the connection
        elif self._task is not None:
            self._cancelled = True
            self._task.cancel()

    def _driver_connection(self) -> Any:
        try:
            return self.sync_connection.connection.driver_connection if self.sync_connection else None
        except Exception:  # noqa: BLE001 - invalidated or closed: nothing to interrupt
            return None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timeout(self, exc: BaseException | None) -> TimeoutError:
        if self._cancelled and self._task is not None:
            self._cancelled = False
            self._task.uncancel()
        error = TimeoutError(f"the database did not answer within {self._bound()} s")
        error.__context__ = exc if isinstance(exc, BaseException) else None
        return error


class BoundedEngine(AsyncEngine):
    """An engine whose connection blocks are bounded by ``bound`` seconds (None: unbounded).

    ``on_available`` is called after each block that completed without error (the outage log's
    "available again" line, keyturn.services.outage).
    """

    _connection_cls = BoundedConnection
    bound: float | None = None
    on_available: Callable[[], None] | None = None

    def unbounded(self) -> AsyncEngine:
        """The same engine (pool, SQLite writer lock) without the bound: migrations, long background jobs."""
        other = type(self).__new__(type(self))
        AsyncEngine.__init__(other, self.sync_engine)
        other.__dict__.update(self.__dict__)
        other.bound = None
        return other


class SQLiteEngine(BoundedEngine):
    """``begin()`` marks its connection as a writer: SQLite then starts it with BEGIN IMMEDIATE.

    Writers take the write lock up front and queue on ``busy_timeout`` instead of failing with
    "database is locked" when a read-then-write transaction upgrades its lock. Readers
    (``connect()``) start with a plain deferred BEGIN and, in WAL mode, never wait for writers.
    """

    _writer: asyncio.Lock | None = None

    def unbounded(self) -> AsyncEngine:
        if self._writer is None:  # shared with the unbounded engine: still one writer at a time
            self._writer = asyncio.Lock()
        return super().unbounded()

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


def make_engine(url: str, *, pool_size: int = 10, timeout: float = 5.0) -> BoundedEngine:
    """An engine whose every connection block ends within ``timeout`` seconds (see :class:`BoundedEngine`)."""
    engine = _make_engine(url, pool_size=pool_size, timeout=timeout)
    engine.bound = timeout
    return engine


def _make_engine(url: str, *, pool_size: int, timeout: float) -> BoundedEngine:
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

        _count_checkouts(engine)
        return engine
    # No command_timeout: the bound (BoundedEngine) ends a stuck block; migrations run unbounded.
    connect_args: dict[str, Any] = {"timeout": timeout}
    if "schema=" in url:  # test isolation: postgresql+asyncpg://.../test?schema=foo
        base, _, schema = url.partition("?schema=")
        connect_args["server_settings"] = {"search_path": schema}
        url = base
    if pool_size == 0:
        unpooled = BoundedEngine(create_async_engine(url, poolclass=NullPool, connect_args=connect_args).sync_engine)
        _count_checkouts(unpooled)
        return unpooled
    pg = BoundedEngine(create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeout,
                                           connect_args=connect_args).sync_engine)
    _ping_when_idle(pg)
    _count_checkouts(pg)  # after the ping: a checkout the ping refuses is retried, and counted once
    return pg


_OUT = "keyturn_checked_out"


def _count_checkouts(engine: AsyncEngine) -> None:
    """``keyturn_database_connections_in_use``: connections checked out of this engine's pool (every engine
    of the process adds to it). The mark lives in ``record_info``, which outlives an invalidated connection,
    so each checkout is counted once and uncounted once, whatever happens to the connection meanwhile."""
    gauge = metrics.DATABASE_CONNECTIONS_IN_USE

    @event.listens_for(engine.sync_engine, "checkout")
    def _out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if not record.record_info.get(_OUT):
            record.record_info[_OUT] = True
            gauge.inc()

    @event.listens_for(engine.sync_engine, "checkin")
    def _in(dbapi_conn: Any, record: Any) -> None:
        if record.record_info.pop(_OUT, False):
            gauge.dec()


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
    if set(MigrationContext.configure(conn).get_current_heads()) == _script_heads(conn):
        return  # at the code's heads, an upgrade applies nothing; Alembic would first read every migration script
    command.upgrade(_alembic_config(conn), "head")


def _pending(conn: Connection) -> list[str]:
    """The revisions an upgrade to head would apply, in the order it applies them: every revision that
    is neither a current head nor an ancestor of one (a database mid-chain has applied its ancestors)."""
    script = ScriptDirectory.from_config(_alembic_config(conn))
    current = MigrationContext.configure(conn).get_current_heads()
    heads = script.get_heads()
    if set(current) == set(heads):
        return []
    # Only the revisions above the current ones (not every revision but the current: an applied ancestor
    # is not pending), oldest first.
    above = script.iterate_revisions("heads", tuple(current) or "base")
    return [rev.revision for rev in reversed(list(above)) if rev is not None]


async def migrate(engine: AsyncEngine) -> None:
    """Apply pending Alembic migrations (what ``keyturn serve`` and ``keyturn migrate`` do); not bounded."""
    if isinstance(engine, BoundedEngine):
        engine = engine.unbounded()
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_pending)


_heads: dict[str, frozenset[str]] = {}


def _script_heads(conn: Connection) -> frozenset[str]:
    """The code's Alembic heads (read from the migration scripts once per process)."""
    if "heads" not in _heads:
        _heads["heads"] = frozenset(ScriptDirectory.from_config(_alembic_config(conn)).get_heads())
    return _heads["heads"]


def _pending_heads(conn: Connection) -> list[str]:
    current = set(MigrationContext.configure(conn).get_current_heads())
    return sorted(_script_heads(conn) - current)


async def probe(engine: AsyncEngine) -> list[str]:
    """Readiness: the database answers; the code's heads the schema is not at (empty: current)."""
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        return await conn.run_sync(_pending_heads)


async def write_probe(engine: AsyncEngine) -> None:
    """Readiness: a committed no-op write (the Alembic version row rewritten to itself)."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
