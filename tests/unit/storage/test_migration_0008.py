"""Migration 0008 (DPoP) on SQLite and PostgreSQL, over existing rows: no client requires DPoP, no grant or code
is bound; the downgrade keeps every row."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


async def test_migration_0008_adds_the_dpop_columns(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0007")
            await conn.execute(text(
                "INSERT INTO clients (client_id, kind, name, is_public, scope, status, grant_types, redirect_uris,"
                " post_logout_redirect_uris, allowed_origins, first_party, refresh_enabled, revoke_refresh_on_logout,"
                " created_at, updated_at) VALUES ('c', 'oidc', 'C', true, '', 0, '[]', '[]', '[]', '[]', false, true,"
                " false, 1, 1)"))
            await conn.execute(text(
                "INSERT INTO grants (id, client_id, grant_type, scope, created_at, expires_at)"
                " VALUES ('g', 'c', 'authorization_code', '', 1, 2)"))
        assert (await pending_migrations(eng))[0] == "0008"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0008")
            assert (await conn.execute(text("SELECT dpop_bound_access_tokens FROM clients"))).scalar_one() in (False, 0)
            assert (await conn.execute(text("SELECT dpop_jkt FROM grants"))).scalar_one() is None
            assert "dpop_jkt" in await conn.run_sync(_columns, "authorization_codes")
            await conn.run_sync(_downgrade, "0007")
            assert "dpop_bound_access_tokens" not in await conn.run_sync(_columns, "clients")
            assert "dpop_jkt" not in await conn.run_sync(_columns, "grants")
            assert "dpop_jkt" not in await conn.run_sync(_columns, "authorization_codes")
            assert (await conn.execute(text("SELECT count(*) FROM grants"))).scalar_one() == 1
    finally:
        await eng.dispose()
