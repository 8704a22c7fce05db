"""storage/db.py: every SQLite connection runs in WAL mode with foreign keys enforced and the busy timeout set
(docs/architecture.md, "Storage")."""

from __future__ import annotations

from sqlalchemy import text

from keyturn.storage.db import make_engine


async def test_each_sqlite_connection_is_configured(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/k.db", pool_size=2, timeout=2.5)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 2500
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL
    finally:
        await engine.dispose()
