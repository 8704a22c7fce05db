"""Migration 0002 (authorization_codes.redirect_uri_sent) on SQLite and PostgreSQL, over existing rows."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from keyturn.storage.db import MIGRATIONS, make_engine, pending_migrations


def _upgrade(conn, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


def _downgrade(conn, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, target)


def _columns(conn) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("authorization_codes")}


async def test_migration_0002_adds_redirect_uri_sent_and_keeps_codes_in_flight(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0001")
            await conn.execute(text(
                "INSERT INTO clients (client_id, kind, name, is_public, scope, status, grant_types, redirect_uris,"
                " post_logout_redirect_uris, allowed_origins, first_party, refresh_enabled,"
                " revoke_refresh_on_logout, created_at, updated_at)"
                " VALUES ('c', 'oidc', 'c', true, '', 0, '[]', '[]', '[]', '[]', false, true, true, 1, 1)"))
            await conn.execute(text(
                "INSERT INTO users (id, password_hash, disabled, email_verified, phone_number_verified,"
                " created_at, updated_at) VALUES ('u', 'x', false, false, false, 1, 1)"))
            await conn.execute(text(
                "INSERT INTO authorization_codes (digest, client_id, user_id, redirect_uri, scope, created_at,"
                " expires_at) VALUES ('d', 'c', 'u', 'https://app.example.test/cb', 'openid', 1, 61)"))
        assert (await pending_migrations(eng))[0] == "0002"  # then any later revision
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "head")
        assert await pending_migrations(eng) == []
        async with eng.begin() as conn:
            assert "redirect_uri_sent" in await conn.run_sync(_columns)
            row = (await conn.execute(text("SELECT redirect_uri, redirect_uri_sent FROM authorization_codes"))).one()
            assert row == ("https://app.example.test/cb", None)
            await conn.execute(text("UPDATE authorization_codes SET redirect_uri_sent = true"))
            await conn.run_sync(_downgrade, "0001")
            assert "redirect_uri_sent" not in await conn.run_sync(_columns)
            assert (await conn.execute(text("SELECT count(*) FROM authorization_codes"))).scalar_one() == 1
    finally:
        await eng.dispose()
