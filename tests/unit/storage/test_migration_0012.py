"""Migration 0012 (mTLS, RFC 8705 §4) on SQLite and PostgreSQL, over existing rows: existing grants are not
bound to a certificate; the column comes and goes without touching the grants or their refresh tokens."""

from __future__ import annotations

from sqlalchemy import inspect, text

from keyturn.storage.db import make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade
from tests.unit.storage.test_migration_0011 import CLIENT

GRANT = ("INSERT INTO grants (id, client_id, grant_type, scope, created_at, expires_at)"
         " VALUES ('g1', 'old', 'authorization_code', '', 1, 100)")


def _columns(conn) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("grants")}


async def test_migration_0012_adds_the_grant_certificate(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0011")
            await conn.execute(text(CLIENT.format(id="old")))
            await conn.execute(text(GRANT))
        assert (await pending_migrations(eng))[0] == "0012"
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0012")
            assert "mtls_x5t" in await conn.run_sync(_columns)
            assert (await conn.execute(text("SELECT mtls_x5t FROM grants"))).scalar_one() is None
            await conn.run_sync(_downgrade, "0011")
            assert "mtls_x5t" not in await conn.run_sync(_columns)
            assert (await conn.execute(text("SELECT count(*) FROM grants"))).scalar_one() == 1
    finally:
        await eng.dispose()
