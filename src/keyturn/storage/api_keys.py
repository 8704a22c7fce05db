"""API keys repository: stored only as SHA-256 digests, found by one indexed query on the digest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Account, ApiKey
from keyturn.storage.rows import to_account, to_api_key
from keyturn.storage.tables import accounts, api_keys


async def insert_api_key(conn: AsyncConnection, key: ApiKey, key_digest: str) -> None:
    values = {f: getattr(key, f) for f in ApiKey.__slots__}
    await conn.execute(api_keys.insert().values(digest=key_digest, **values))


async def find_api_key_by_digest(conn: AsyncConnection, key_digest: str) -> tuple[ApiKey, Account] | None:
    """The key with this digest and the account it is bound to (one query on the unique digest index)."""
    cols = [c.label(f"k_{c.name}") for c in api_keys.c if c.name != "digest"]
    q = (
        select(*cols, *[c.label(f"a_{c.name}") for c in accounts.c])
        .join(accounts, accounts.c.id == api_keys.c.account_id)
        .where(api_keys.c.digest == key_digest)
    )
    row = (await conn.execute(q)).mappings().first()
    if row is None:
        return None
    key = {k[2:]: v for k, v in row.items() if k.startswith("k_")}
    acct = {k[2:]: v for k, v in row.items() if k.startswith("a_")}
    return to_api_key(key), to_account(acct)


async def any_imported(conn: AsyncConnection) -> bool:
    """Whether some imported key exists (one row at most is read)."""
    q = select(api_keys.c.id).where(api_keys.c.imported.is_(True)).limit(1)
    return (await conn.execute(q)).first() is not None


async def get_api_key_by_name(conn: AsyncConnection, account_id: str, name: str) -> ApiKey | None:
    q = select(api_keys).where(api_keys.c.account_id == account_id, api_keys.c.name == name)
    row = (await conn.execute(q)).mappings().first()
    return to_api_key(row) if row else None


async def list_api_keys_of_account(conn: AsyncConnection, account_id: str) -> list[ApiKey]:
    q = (
        select(api_keys)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.created_at, api_keys.c.name)
    )
    return [to_api_key(r) for r in (await conn.execute(q)).mappings()]


async def set_api_key_enabled(conn: AsyncConnection, key_id: str, enabled: bool, now: float, by: str) -> None:
    await conn.execute(
        update(api_keys).where(api_keys.c.id == key_id).values(enabled=enabled, updated_at=now, updated_by=by)
    )


async def set_api_key_rate_limit(conn: AsyncConnection, key_id: str, rate_limit: str | None, now: float,
                                 by: str) -> None:
    await conn.execute(
        update(api_keys).where(api_keys.c.id == key_id).values(rate_limit=rate_limit, updated_at=now, updated_by=by)
    )


async def delete_api_key(conn: AsyncConnection, key_id: str) -> None:
    await conn.execute(api_keys.delete().where(api_keys.c.id == key_id))


async def record_last_used(conn: AsyncConnection, last_used: Mapping[str, float]) -> None:
    """Write a batch of last-used times (flushed off the request path)."""
    if not last_used:
        return
    stmt = update(api_keys).where(api_keys.c.id == bindparam("key_id")).values(last_used_at=bindparam("t"))
    params: list[dict[str, Any]] = [{"key_id": k, "t": t} for k, t in last_used.items()]
    await conn.execute(stmt, params)
