"""storage/api_keys.py: last-used times written as one batch; an empty batch sends nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from keyturn.services import api_keys as api_keys_service
from keyturn.storage import api_keys as keys_repo


async def test_a_batch_of_last_used_times(ctx, make_user):
    user = await make_user()
    a = (await api_keys_service.create(ctx, None, user.account_id, "a", "merchant-terminal")).record
    b = (await api_keys_service.create(ctx, None, user.account_id, "b", "merchant-terminal")).record
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(ctx.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with ctx.engine.begin() as conn:
            await keys_repo.record_last_used(conn, {})
            assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
            await keys_repo.record_last_used(conn, {a.id: 10.0, b.id: 20.0})
    finally:
        event.remove(ctx.engine.sync_engine, "before_cursor_execute", seen)
    async with ctx.engine.connect() as conn:
        got = {k.name: k.last_used_at for k in await keys_repo.list_api_keys_of_account(conn, user.account_id)}
    assert got == {"a": 10.0, "b": 20.0}
