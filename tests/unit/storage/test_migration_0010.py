"""Migration 0010 (RFC 7591 registration) on SQLite and PostgreSQL, over existing rows: they stay as registered."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _tables(conn) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migration_0010_adds_registration_and_keeps_clients(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0009")
            await conn.execute(text(
                "INSERT INTO clients (client_id, kind, name, is_public, scope, status, grant_types, redirect_uris,"
                " post_logout_redirect_uris, allowed_origins, first_party, refresh_enabled,"
                " revoke_refresh_on_logout, created_at, updated_at)"
                " VALUES ('c', 'oidc', 'C', false, 'openid', 0, '[]', '[]', '[]', '[]', false, true, true, 1, 1)"))
        assert (await pending_migrations(eng))[0] == "0010"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0010")
            row = (await conn.execute(text(
                "SELECT registered_metadata, registration_digest FROM clients"))).one()
            assert tuple(row) == (None, None)
            assert "initial_access_tokens" in await conn.run_sync(_tables)
            await conn.run_sync(_downgrade, "0009")
            assert "registration_digest" not in await conn.run_sync(_columns, "clients")
            assert "initial_access_tokens" not in await conn.run_sync(_tables)
            assert (await conn.execute(text("SELECT count(*) FROM clients"))).scalar_one() == 1
    finally:
        await eng.dispose()
