"""``migrate`` on a database at the code's heads applies nothing and leaves Alembic's scripts unread (every
start of a current database: each in-process test's app, each restarted worker); any other database is
upgraded by Alembic as before, and one at a revision the code does not know still fails."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy import text

from keyturn.storage import db
from tests.unit.storage.test_migration_0002 import _downgrade

pytestmark = pytest.mark.empty_database


class Upgrades:
    """Counts Alembic's upgrade commands."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._upgrade = command.upgrade
        monkeypatch.setattr(command, "upgrade", self)  # keyturn.storage.db calls it through the module

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.count += 1
        self._upgrade(*args, **kwargs)


async def test_only_a_database_behind_the_code_is_upgraded(database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    upgrades = Upgrades(monkeypatch)
    engine = db.make_engine(database_url, pool_size=2)
    try:
        await db.migrate(engine)  # empty
        assert upgrades.count == 1 and await db.pending_migrations(engine) == []
        await db.migrate(engine)  # at head
        assert upgrades.count == 1
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "-1")
        await db.migrate(engine)  # one behind
        assert upgrades.count == 2 and await db.pending_migrations(engine) == []
    finally:
        await engine.dispose()


async def test_a_database_at_a_revision_the_code_does_not_know_still_fails(database_url: str) -> None:
    engine = db.make_engine(database_url, pool_size=2)
    try:
        await db.migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(CommandError, match="9999"):
            await db.migrate(engine)
    finally:
        await engine.dispose()
