"""Migration 0003 (clients.rate_limit, api_keys.rate_limit) on SQLite and PostgreSQL, over existing rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


async def test_migration_0003_adds_quotas_that_existing_rows_do_not_have(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0002")
            await conn.execute(text(
                "INSERT INTO clients (client_id, kind, name, is_public, scope, status, grant_types, redirect_uris,"
                " post_logout_redirect_uris, allowed_origins, first_party, refresh_enabled,"
                " revoke_refresh_on_logout, created_at, updated_at)"
                " VALUES ('c', 'credential', 'c', false, '', 0, '[]', '[]', '[]', '[]', false, true, true, 1, 1)"))
            await conn.execute(text(
                "INSERT INTO users (id, password_hash, disabled, email_verified, phone_number_verified,"
                " created_at, updated_at) VALUES ('u', 'x', false, false, false, 1, 1)"))
            await conn.execute(text(
                "INSERT INTO authorization_codes (digest, client_id, user_id, redirect_uri, scope, created_at,"
                " expires_at) VALUES ('d', 'c', 'u', 'https://app.example.test/cb', 'openid', 1, 61)"))
        assert (await pending_migrations(eng))[0] == "0003"  # then any later revision
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0003")
            assert "rate_limit" in await conn.run_sync(_columns, "clients")
            assert "rate_limit" in await conn.run_sync(_columns, "api_keys")
            assert (await conn.execute(text("SELECT rate_limit FROM clients"))).scalar_one() is None
            await conn.execute(text("UPDATE clients SET rate_limit = '100/60'"))
            await conn.run_sync(_downgrade, "0002")
            assert "rate_limit" not in await conn.run_sync(_columns, "clients")
            assert "rate_limit" not in await conn.run_sync(_columns, "api_keys")
            assert (await conn.execute(text("SELECT count(*) FROM clients"))).scalar_one() == 1
            # no table was copied and dropped: the client's code did not cascade away
            assert (await conn.execute(text("SELECT count(*) FROM authorization_codes"))).scalar_one() == 1
    finally:
        await eng.dispose()
