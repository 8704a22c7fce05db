"""PostgreSQL pool: a connection idle for a while is pinged, and a dead one replaced, before it is used."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from keyturn.storage import db
from tests.conftest import PG_BASE, require_service


async def _terminate(pid: int) -> None:
    other = db.make_engine(PG_BASE, pool_size=0)
    try:
        async with other.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await admin.commit()
    finally:
        await other.dispose()


@pytest.fixture
async def pg_engine():
    require_service("PostgreSQL", "127.0.0.1", 5432)
    engine = db.make_engine(PG_BASE, pool_size=1)
    yield engine
    await engine.dispose()


async def test_an_idle_connection_killed_by_the_server_is_replaced_without_an_error(pg_engine, monkeypatch):
    async with pg_engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
    await _terminate(pid)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # as if it had been idle long enough
    async with pg_engine.connect() as conn:
        new_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
    assert new_pid != pid


async def test_a_connection_in_constant_use_is_not_pinged(pg_engine):
    """The trade-off, shown: a connection used a moment ago is trusted; if the server dropped it, that one
    use fails and the pool discards it, so the next checkout works."""
    async with pg_engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
    await _terminate(pid)
    with pytest.raises(DBAPIError) as failed:
        async with pg_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    async with pg_engine.connect() as conn:
        assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar() != pid
