"""Deleting what has expired, one bounded batch per statement (the purge task: services/purge.py).

Each function deletes at most ``limit`` rows in one statement and returns how many it deleted; the
caller repeats it, one short transaction each, until fewer than ``limit`` go. On PostgreSQL the rows
are chosen with ``FOR UPDATE SKIP LOCKED``, so purges running at once on several workers and nodes
take different rows and never wait for each other or for a request holding a row; SQLite has one
writer at a time anyway and ignores the clause. Every condition is on an indexed column (migrations 0004,
0010).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from keyturn.storage.tables import (
    audit_events,
    authorization_codes,
    grants,
    interactions,
    pushed_requests,
    refresh_tokens,
    revoked_tokens,
    sessions,
    throttles,
)


async def _delete_chosen(conn: AsyncConnection, table: Table, key: Any, where: ColumnElement[bool],
                         limit: int, *, join: Any = None) -> int:
    """``DELETE FROM table WHERE key IN (SELECT key … WHERE … LIMIT n FOR UPDATE SKIP LOCKED)``."""
    chosen = select(key).select_from(join if join is not None else table).where(where).limit(limit)
    chosen = chosen.with_for_update(skip_locked=True, of=table)
    res = await conn.execute(delete(table).where(key.in_(chosen.scalar_subquery())))
    return int(res.rowcount or 0)


async def expired_codes(conn: AsyncConnection, before: float, limit: int) -> int:
    """Authorization codes (used or not) that expired before ``before``."""
    c = authorization_codes.c
    return await _delete_chosen(conn, authorization_codes, c.digest, c.expires_at < before, limit)


async def expired_interactions(conn: AsyncConnection, before: float, limit: int) -> int:
    c = interactions.c
    return await _delete_chosen(conn, interactions, c.id, c.expires_at < before, limit)


async def expired_pushed_requests(conn: AsyncConnection, before: float, limit: int) -> int:
    """Pushed authorization requests (used or not) that expired before ``before``."""
    c = pushed_requests.c
    return await _delete_chosen(conn, pushed_requests, c.digest, c.expires_at < before, limit)


async def dead_sessions(conn: AsyncConnection, before: float, idle: float, limit: int) -> int:
    """Sessions that expired, ended or sat idle (``idle`` seconds) before ``before``."""
    c = sessions.c
    where = or_(c.expires_at < before, c.ended_at < before, c.last_seen_at < before - idle)
    return await _delete_chosen(conn, sessions, c.digest, where, limit)


async def expired_revoked_tokens(conn: AsyncConnection, before: float, limit: int) -> int:
    """Revoked ``jti`` rows whose token expired before ``before`` (no verifier can accept it any more)."""
    c = revoked_tokens.c
    return await _delete_chosen(conn, revoked_tokens, c.jti, c.expires_at < before, limit)


async def stale_throttles(conn: AsyncConnection, before: float, window: float, limit: int) -> int:
    """Throttle rows whose counting window (``window`` seconds) and lock both ended before ``before``."""
    c = throttles.c
    where = (c.window_start < before - window) & or_(c.locked_until.is_(None), c.locked_until < before)
    return await _delete_chosen(conn, throttles, c.key, where, limit)


async def refresh_tokens_of_dead_grants(conn: AsyncConnection, before: float, limit: int) -> int:
    """Refresh tokens (spent or not) whose grant was revoked or expired before ``before``."""
    g = grants.c
    dead = or_(g.revoked_at < before, g.expires_at < before)
    join = refresh_tokens.join(grants, grants.c.id == refresh_tokens.c.grant_id)
    return await _delete_chosen(conn, refresh_tokens, refresh_tokens.c.digest, dead, limit, join=join)


async def stale_reissues(conn: AsyncConnection, used_before: float, limit: int) -> int:
    """Erase the sealed answers (core/reissue.py) of tokens used before ``used_before``: past their grace
    window. An update, not a delete (the spent token's row still detects its reuse); partial index of 0009."""
    c = refresh_tokens.c
    chosen = (select(c.digest).where(c.reissue.is_not(None), c.used_at < used_before).limit(limit)
              .with_for_update(skip_locked=True))
    res = await conn.execute(update(refresh_tokens).where(c.digest.in_(chosen.scalar_subquery()))
                             .values(reissue=None))
    return int(res.rowcount or 0)


async def dead_grants(conn: AsyncConnection, revoked_before: float, expired_before: float, limit: int) -> int:
    """Grants revoked before ``revoked_before`` or expired before ``expired_before`` that no refresh token
    names any more (their tokens go first: :func:`refresh_tokens_of_dead_grants`)."""
    g = grants.c
    orphan = ~exists().where(refresh_tokens.c.grant_id == g.id)
    where = or_(g.revoked_at < revoked_before, g.expires_at < expired_before) & orphan
    return await _delete_chosen(conn, grants, g.id, where, limit)


async def old_audit_events(conn: AsyncConnection, before: float, limit: int) -> int:
    c = audit_events.c
    return await _delete_chosen(conn, audit_events, c.id, c.at < before, limit)
