"""Migration 0007 (api_keys.updated_by) on SQLite and PostgreSQL, over existing rows: a key never changed was
last modified by its creator; one changed since has no recorded modifier (null), never a guess."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


async def test_migration_0007_backfills_only_what_is_known(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0006")
            await conn.execute(text(
                "INSERT INTO accounts (id, name, type, test, flags, subscriptions, created_at, updated_at)"
                " VALUES ('a', 'A', 'org', false, '[]', '[]', 1, 1)"))
            await conn.execute(text(
                "INSERT INTO api_keys (id, account_id, name, role, digest, hint, enabled, created_at, created_by,"
                " updated_at) VALUES ('new', 'a', 'n', 'merchant-terminal', 'd1', 'h', true, 1, 'user:u1', 1),"
                " ('changed', 'a', 'c', 'merchant-terminal', 'd2', 'h', false, 1, 'user:u1', 5)"))
        assert (await pending_migrations(eng))[0] == "0007"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0007")
            found = await conn.execute(text("SELECT id, updated_by FROM api_keys"))
            rows: dict[str, str | None] = {r[0]: r[1] for r in found}
            assert rows == {"new": "user:u1", "changed": None}
            await conn.run_sync(_downgrade, "0006")
            assert "updated_by" not in await conn.run_sync(_columns, "api_keys")
            assert (await conn.execute(text("SELECT count(*) FROM api_keys"))).scalar_one() == 2
    finally:
        await eng.dispose()
