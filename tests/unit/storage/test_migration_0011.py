"""Migration 0011 (pushed authorization requests, RFC 9126) on SQLite and PostgreSQL, over existing rows:
existing clients do not require PAR; the table comes and goes."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade

CLIENT = ("INSERT INTO clients (client_id, kind, name, is_public, scope, status, grant_types, redirect_uris,"
          " post_logout_redirect_uris, allowed_origins, first_party, refresh_enabled, revoke_refresh_on_logout,"
          " created_at, updated_at) VALUES ('{id}', 'oidc', 'A', true, '', 0, '[]', '[]', '[]', '[]', false, true,"
          " false, 1, 1)")


def _layout(conn) -> tuple[set[str], set[str], set[str]]:
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    columns = {c["name"] for c in insp.get_columns("clients")}
    indexes = {i["name"] for i in insp.get_indexes("pushed_requests")} if "pushed_requests" in tables else set()
    return tables, columns, indexes


async def test_migration_0011_adds_pushed_requests_and_the_client_flag(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0010")
            await conn.execute(text(CLIENT.format(id="old")))
        assert (await pending_migrations(eng))[0] == "0011"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0011")
            tables, columns, indexes = await conn.run_sync(_layout)
            assert "pushed_requests" in tables and "require_pushed_authorization_requests" in columns
            assert "ix_pushed_requests_expires_at" in indexes
            flag = (await conn.execute(text(
                "SELECT require_pushed_authorization_requests FROM clients"))).scalar_one()
            assert flag in (False, 0)
            await conn.execute(text(
                "INSERT INTO pushed_requests (digest, client_id, params, created_at, expires_at)"
                " VALUES ('d', 'old', '{}', 1, 61)"))
            await conn.run_sync(_downgrade, "0010")
            tables, columns, _ = await conn.run_sync(_layout)
            assert "pushed_requests" not in tables and "require_pushed_authorization_requests" not in columns
            assert (await conn.execute(text("SELECT count(*) FROM clients"))).scalar_one() == 1
    finally:
        await eng.dispose()
