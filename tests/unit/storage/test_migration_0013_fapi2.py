"""Migration 0013 (the FAPI 2.0 profile switch) on SQLite and PostgreSQL, over existing rows: existing
clients are not held to the profile; the column comes and goes without touching the clients."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade
from tests.unit.storage.test_migration_0011 import CLIENT


def _columns(conn) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("clients")}


async def test_migration_0013_adds_the_fapi2_flag(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0012")
            await conn.execute(text(CLIENT.format(id="old")))
        assert (await pending_migrations(eng))[0] == "0013"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0013")
            assert "fapi2" in await conn.run_sync(_columns)
            assert (await conn.execute(text("SELECT fapi2 FROM clients"))).scalar_one() in (False, 0)
            await conn.run_sync(_downgrade, "0012")
            assert "fapi2" not in await conn.run_sync(_columns)
            assert (await conn.execute(text("SELECT count(*) FROM clients"))).scalar_one() == 1
    finally:
        await eng.dispose()
