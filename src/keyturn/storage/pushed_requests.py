"""Pushed authorization requests (RFC 9126), stored by the digest of their ``request_uri``.

A pushed request is *used* when the authorization it started completes (a code is issued), not when the
authorization endpoint loads it: a reload of the sign-in page before then still works (RFC 9126 §4 allows
it; the FAPI 2.0 conformance suite's ``par-ensure-reused-request-uri-prior-to-auth-completion-succeeds``
expects it). Spending is one conditional statement (``UPDATE … WHERE used_at IS NULL RETURNING``), in the
code's own transaction: zero rows means another sign-in completed with it first. Under concurrency the
second spender finds zero rows on SQLite (one writer at a time) and on PostgreSQL at READ COMMITTED, where
every Keyturn session is pinned (services/writes.py): its UPDATE waits for the winner's commit and re-reads
the row, now used.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import PushedRequest
from keyturn.storage.rows import to_record, to_row
from keyturn.storage.tables import pushed_requests as pushed


async def insert_pushed_request(conn: AsyncConnection, request: PushedRequest) -> None:
    await conn.execute(pushed.insert().values(**to_row(request)))


async def find_pushed_request(conn: AsyncConnection, request_digest: str) -> PushedRequest | None:
    """The request by digest, used, expired or not (the caller decides, and says why it cannot be used)."""
    row = (await conn.execute(select(pushed).where(pushed.c.digest == request_digest))).mappings().first()
    return to_record(PushedRequest, row) if row else None


async def spend_pushed_request(conn: AsyncConnection, request_digest: str, client_id: str, now: float) -> bool:
    """Mark the client's request used; False if it was used before (or is gone)."""
    c = pushed.c
    stmt = (update(pushed)
            .where(c.digest == request_digest, c.client_id == client_id, c.used_at.is_(None))
            .values(used_at=now)
            .returning(c.digest))
    return (await conn.execute(stmt)).first() is not None
