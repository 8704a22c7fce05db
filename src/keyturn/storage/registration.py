"""RFC 7591 initial access tokens and RFC 7592 registration access tokens, by intent.

Both are stored as digests only. Spending an initial access token and rotating a registration access
token are each one conditional statement, so two requests with one token cannot both succeed beyond
what it allows (zero rows: refused).
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import InitialAccessToken
from keyturn.storage.tables import clients, initial_access_tokens


async def insert_initial_token(conn: AsyncConnection, *, id: str, digest: str, now: float, created_by: str | None,
                               expires_at: float | None, uses: int | None) -> None:
    await conn.execute(initial_access_tokens.insert().values(
        id=id, digest=digest, created_at=now, created_by=created_by, expires_at=expires_at, uses_left=uses))


async def live_initial_token(conn: AsyncConnection, digest: str, now: float) -> bool:
    """Whether an initial access token would be accepted now (nothing spent: :func:`spend_initial_token` does)."""
    t = initial_access_tokens.c
    q = select(t.id).where(t.digest == digest, t.revoked_at.is_(None), or_(t.expires_at.is_(None), t.expires_at > now),
                           or_(t.uses_left.is_(None), t.uses_left > 0))
    return (await conn.execute(q)).first() is not None


async def spend_initial_token(conn: AsyncConnection, digest: str, now: float) -> str | None:
    """One use of a live initial access token: its id, or None (unknown, revoked, expired or used up)."""
    t = initial_access_tokens.c
    q = (update(initial_access_tokens)
         .where(t.digest == digest, t.revoked_at.is_(None), or_(t.expires_at.is_(None), t.expires_at > now),
                or_(t.uses_left.is_(None), t.uses_left > 0))
         .values(uses_left=t.uses_left - 1)  # null stays null: unlimited
         .returning(t.id))
    token_id: str | None = (await conn.execute(q)).scalar_one_or_none()
    return token_id


async def revoke_initial_token(conn: AsyncConnection, token_id: str, now: float) -> bool:
    t = initial_access_tokens.c
    q = (update(initial_access_tokens).where(t.id == token_id, t.revoked_at.is_(None))
         .values(revoked_at=now).returning(t.id))
    return (await conn.execute(q)).scalar_one_or_none() is not None


async def list_initial_tokens(conn: AsyncConnection) -> list[InitialAccessToken]:
    t = initial_access_tokens.c
    q = select(t.id, t.created_at, t.created_by, t.expires_at, t.uses_left, t.revoked_at).order_by(t.created_at)
    return [InitialAccessToken(**r) for r in (await conn.execute(q)).mappings()]


async def rotate_registration_token(conn: AsyncConnection, client_id: str, old_digest: str,
                                    new_digest: str | None) -> bool:
    """Replace a client's registration access token (None: none any more) if ``old_digest`` is still its
    current one: False when another request rotated it first, or the client is gone."""
    c = clients.c
    q = (update(clients).where(c.client_id == client_id, c.registration_digest == old_digest,
                               c.deleted_at.is_(None))
         .values(registration_digest=new_digest).returning(c.client_id))
    return (await conn.execute(q)).scalar_one_or_none() is not None
