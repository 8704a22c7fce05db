"""Signing keys repository."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import StoredKey
from keyturn.storage.rows import to_record
from keyturn.storage.tables import signing_keys


async def insert(conn: AsyncConnection, *, kid: str, alg: str, private_pem: str, public_jwk: dict[str, Any],
                 created_at: float, activates_at: float) -> None:
    await conn.execute(signing_keys.insert().values(
        kid=kid, alg=alg, private_pem=private_pem, public_jwk=public_jwk,
        created_at=created_at, activates_at=activates_at, retired_at=None))


async def all_keys(conn: AsyncConnection) -> list[StoredKey]:
    q = select(signing_keys).order_by(signing_keys.c.activates_at)
    return [to_record(StoredKey, r) for r in (await conn.execute(q)).mappings()]


async def retire_others(conn: AsyncConnection, alg: str, keep_kid: str, at: float) -> None:
    await conn.execute(update(signing_keys).where(
        signing_keys.c.alg == alg, signing_keys.c.kid != keep_kid, signing_keys.c.retired_at.is_(None)
    ).values(retired_at=at))
