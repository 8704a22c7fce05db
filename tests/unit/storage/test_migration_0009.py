"""Migration 0009 (refresh_tokens.reissue) on SQLite and PostgreSQL, over existing rows: they keep no box."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _indexes(conn, table: str) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes(table)}


async def test_migration_0009_adds_an_empty_reissue_column_and_removes_it(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0008")
            await conn.execute(text(
                "INSERT INTO clients (client_id, kind, name, is_public, scope, status, grant_types, redirect_uris,"
                " post_logout_redirect_uris, allowed_origins, first_party, refresh_enabled, revoke_refresh_on_logout,"
                " created_at, updated_at) VALUES ('c', 'oidc', 'C', true, 'openid', 0, '[]', '[]', '[]', '[]',"
                " false, true, false, 1, 1)"))
            await conn.execute(text(
                "INSERT INTO grants (id, client_id, grant_type, scope, created_at, expires_at)"
                " VALUES ('g', 'c', 'authorization_code', 'openid', 1, 9)"))
            await conn.execute(text(
                "INSERT INTO refresh_tokens (digest, grant_id, generation, scope, issued_at, expires_at, used_at)"
                " VALUES ('d1', 'g', 1, 'openid', 1, 9, 2)"))
        assert (await pending_migrations(eng))[0] == "0009"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0009")
            assert (await conn.execute(text("SELECT reissue FROM refresh_tokens"))).scalar_one() is None
            assert "ix_refresh_tokens_reissue" in await conn.run_sync(_indexes, "refresh_tokens")
            await conn.execute(text(
                "INSERT INTO refresh_tokens (digest, grant_id, generation, scope, issued_at, expires_at, used_at,"
                " reissue) VALUES ('d2', 'g', 2, 'openid', 2, 9, 3, :box)"), {"box": b"\x00sealed"})
            assert bytes((await conn.execute(text("SELECT reissue FROM refresh_tokens WHERE digest = 'd2'")))
                         .scalar_one()) == b"\x00sealed"
            await conn.run_sync(_downgrade, "0008")
            assert "reissue" not in await conn.run_sync(_columns, "refresh_tokens")
            assert "ix_refresh_tokens_reissue" not in await conn.run_sync(_indexes, "refresh_tokens")
            assert (await conn.execute(text("SELECT count(*) FROM refresh_tokens"))).scalar_one() == 2
    finally:
        await eng.dispose()
