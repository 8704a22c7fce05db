"""Migration 0006 (api_keys.imported) on SQLite and PostgreSQL, over existing rows: they are native keys."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


async def test_migration_0006_marks_existing_keys_native(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0005")
            await conn.execute(text(
                "INSERT INTO accounts (id, name, type, test, flags, subscriptions, created_at, updated_at)"
                " VALUES ('a', 'A', 'org', false, '[]', '[]', 1, 1)"))
            await conn.execute(text(
                "INSERT INTO api_keys (id, account_id, name, role, digest, hint, enabled, created_at, updated_at)"
                " VALUES ('k', 'a', 'k', 'merchant-terminal', 'd', 'h', true, 1, 1)"))
        assert (await pending_migrations(eng))[0] == "0006"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0006")
            assert (await conn.execute(text("SELECT imported FROM api_keys"))).scalar_one() in (False, 0)
            await conn.execute(text(
                "INSERT INTO api_keys (id, account_id, name, role, digest, hint, enabled, created_at, updated_at,"
                " imported) VALUES ('k2', 'a', 'k2', 'merchant-terminal', 'd2', 'h', true, 1, 1, true)"))
            await conn.run_sync(_downgrade, "0005")
            assert "imported" not in await conn.run_sync(_columns, "api_keys")
            assert (await conn.execute(text("SELECT count(*) FROM api_keys"))).scalar_one() == 2
    finally:
        await eng.dispose()
