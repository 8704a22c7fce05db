"""Pushed authorization requests (RFC 9126), stored by the digest of their ``request_uri``.

Single use is one conditional statement (``UPDATE … WHERE used_at IS NULL AND expires_at > now …
RETURNING``): zero rows means unknown, another client's, expired or already used. Under concurrency the
second of two consumers finds zero rows on SQLite (one writer at a time) and on PostgreSQL at READ
COMMITTED, where every Keyturn session is pinned (services/writes.py): its UPDATE waits for the winner's
commit and re-reads the row, now used.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import PushedRequest
from keyturn.storage.rows import to_record, to_row
from keyturn.storage.tables import pushed_requests as pushed


async def insert_pushed_request(conn: AsyncConnection, request: PushedRequest) -> None:
    await conn.execute(pushed.insert().values(**to_row(request)))


async def consume_pushed_request(conn: AsyncConnection, request_digest: str, client_id: str, now: float,
                                 leeway: float = 0.0) -> PushedRequest | None:
    """Mark the client's live, unused request used and return it; None if there is none (RFC 9126 §4). Its
    expiry is the pushing node's clock: ``leeway`` seconds of clock difference are tolerated."""
    c = pushed.c
    stmt = (update(pushed)
            .where(c.digest == request_digest, c.client_id == client_id, c.used_at.is_(None),
                   c.expires_at > now - leeway)
            .values(used_at=now)
            .returning(*pushed.c))
    row = (await conn.execute(stmt)).mappings().first()
    return to_record(PushedRequest, row) if row else None


async def find_pushed_request(conn: AsyncConnection, request_digest: str) -> PushedRequest | None:
    """The request (used, expired or not): to say why it could not be consumed."""
    row = (await conn.execute(select(pushed).where(pushed.c.digest == request_digest))).mappings().first()
    return to_record(PushedRequest, row) if row else None
