"""services/usage.py: API-key last-used times reach the database off the request path; a failed write never
breaks serving and loses nothing (on SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.services import api_keys as api_keys_service
from keyturn.services.usage import LastUsed


class DatabaseDown:
    """An engine whose every transaction fails, as during a database restart."""

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        raise OSError("connection refused")
        yield


async def _last_used(ctx: Any, account_id: str, name: str) -> float | None:
    keys = await api_keys_service.list_keys(ctx, None, account_id)
    return next(k.last_used_at for k in keys if k.name == name)


async def test_the_newest_time_per_key_is_written_in_one_batch(ctx, make_user):
    user = await make_user()
    issued = await api_keys_service.create(ctx, None, user.account_id, "till-1", "merchant-terminal")
    usage = LastUsed(ctx.engine)
    assert await usage.flush() == 0  # nothing pending: no transaction
    usage.record(issued.record.id, 100.0)
    usage.record(issued.record.id, 160.0)
    assert await usage.flush() == 1 and usage.pending == {}
    assert await _last_used(ctx, user.account_id, "till-1") == 160.0


async def test_a_failed_write_keeps_the_times_for_the_next_flush(ctx, make_user, caplog: pytest.LogCaptureFixture):
    user = await make_user()
    issued = await api_keys_service.create(ctx, None, user.account_id, "till-2", "merchant-terminal")
    usage = LastUsed(cast(AsyncEngine, DatabaseDown()))
    usage.record(issued.record.id, 200.0)
    with caplog.at_level(logging.WARNING, logger="keyturn.api_keys"):
        assert await usage.flush() == 0
    assert "could not record API key last-used times (database unavailable: connection)" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]  # an outage: one line, no traceback
    assert usage.pending == {issued.record.id: 200.0}
    usage.engine = ctx.engine  # the database is back
    assert await usage.flush() == 1
    assert await _last_used(ctx, user.account_id, "till-2") == 200.0


async def test_one_writer_per_process_and_stop_writes_what_is_pending(ctx, make_user):
    user = await make_user()
    issued = await api_keys_service.create(ctx, None, user.account_id, "till-3", "merchant-terminal")
    usage = LastUsed(ctx.engine, flush_seconds=3600)
    usage.start()
    task = usage._task
    usage.start()
    assert usage._task is task and task is not None
    usage.record(issued.record.id, 300.0)
    await usage.stop()
    assert task.cancelled() and usage._task is None
    assert await _last_used(ctx, user.account_id, "till-3") == 300.0


class Broken:
    """An engine whose every transaction fails with a bug."""

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        raise RuntimeError("a bug")
        yield


async def test_a_write_failing_for_another_reason_is_logged_in_full(caplog: pytest.LogCaptureFixture) -> None:
    usage = LastUsed(cast(AsyncEngine, Broken()))
    usage.record("k", 1.0)
    with caplog.at_level(logging.ERROR, logger="keyturn.api_keys"):
        assert await usage.flush() == 0
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert usage.pending == {"k": 1.0}
