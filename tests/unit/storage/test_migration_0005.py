"""Migration 0005 (the audit query's indexes) on SQLite and PostgreSQL: over existing events, accepting
indexes an operator built beforehand (``CREATE INDEX CONCURRENTLY`` with the same names), and back."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from keyturn.storage.db import MIGRATIONS, make_engine

NEW = {"ix_audit_events_event_at", "ix_audit_events_actor_at", "ix_audit_events_subject_at",
       "ix_audit_events_client_id_at"}


def _migrate(conn: Any, target: str, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    (command.downgrade if down else command.upgrade)(cfg, target)


def _indexes(conn: Any) -> dict[str, list[str]]:
    return {str(i["name"]): list(i["column_names"]) for i in inspect(conn).get_indexes("audit_events")}


async def test_migration_0005_indexes_the_audit_filters(database_url: str) -> None:
    eng = make_engine(database_url, pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_migrate, "0002")
            await conn.execute(text("INSERT INTO audit_events (at, event, actor, subject) VALUES (1, 'a.b', 'x', 'y')"))
            # built ahead by the operator, as docs/audit.md says (CONCURRENTLY on a live PostgreSQL)
            await conn.execute(text("CREATE INDEX ix_audit_events_actor_at ON audit_events (actor, at, id)"))
            await conn.run_sync(_migrate, "0005")
            found = await conn.run_sync(_indexes)
            assert NEW <= set(found)
            assert found["ix_audit_events_event_at"] == ["event", "at", "id"]
            assert found["ix_audit_events_subject_at"] == ["subject", "at", "id"]
            assert found["ix_audit_events_client_id_at"] == ["client_id", "at", "id"]
            assert "ix_audit_events_at" in found
            await conn.run_sync(_migrate, "0002", True)
            assert not NEW & set(await conn.run_sync(_indexes))
            assert (await conn.execute(text("SELECT count(*) FROM audit_events"))).scalar_one() == 1
    finally:
        await eng.dispose()
