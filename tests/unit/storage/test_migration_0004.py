"""Migration 0004 (the purge's indexes), and ``pending_migrations`` on a database mid-chain."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from keyturn.storage.db import MIGRATIONS, make_engine, pending_migrations
from tests.unit.storage.test_migration_0002 import _downgrade, _upgrade

PURGE_INDEXES = {
    "authorization_codes": {"ix_authorization_codes_expires_at"}, "interactions": {"ix_interactions_expires_at"},
    "sessions": {"ix_sessions_expires_at", "ix_sessions_last_seen_at", "ix_sessions_ended_at"},
    "revoked_tokens": {"ix_revoked_tokens_expires_at"}, "throttles": {"ix_throttles_window_start"},
    "grants": {"ix_grants_expires_at", "ix_grants_revoked_at"}}


def _indexes(conn) -> dict[str, set[str]]:
    insp = inspect(conn)
    return {table: {ix["name"] for ix in insp.get_indexes(table)} for table in PURGE_INDEXES}


def _upgrade_order() -> list[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return [r.revision for r in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions("base", "heads")))]


async def test_pending_lists_only_what_a_database_mid_chain_has_not_applied(database_url):
    order = _upgrade_order()
    assert order[:2] == ["0001", "0002"] and "0004" in order
    eng = make_engine(database_url, pool_size=2)
    try:
        assert await pending_migrations(eng) == order  # empty database: everything, in upgrade order
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0002")
        assert await pending_migrations(eng) == order[2:]  # not 0001 (an ancestor of the current head)
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "head")
        assert await pending_migrations(eng) == []
    finally:
        await eng.dispose()


async def test_migration_0004_adds_the_purge_indexes_and_removes_them(database_url):
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_upgrade, "0002")
            assert all(not (names & PURGE_INDEXES[t]) for t, names in (await conn.run_sync(_indexes)).items())
            await conn.run_sync(_upgrade, "0004")
            found = await conn.run_sync(_indexes)
            assert all(PURGE_INDEXES[t] <= names for t, names in found.items()), found
            await conn.run_sync(_downgrade, "0002")
            assert all(not (names & PURGE_INDEXES[t]) for t, names in (await conn.run_sync(_indexes)).items())
    finally:
        await eng.dispose()
