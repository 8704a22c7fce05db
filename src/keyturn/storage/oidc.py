"""OIDC provider storage, named by protocol intent: codes, sessions, interactions, consents, throttles.

Single use is one conditional statement (``UPDATE … WHERE used_at IS NULL RETURNING``):
zero rows means the value was already used (a replay). Only digests of codes,
session ids and interaction ids are stored.
"""

from __future__ import annotations

from sqlalchemy import delete, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Consent, Interaction, LoginSession, Throttle
from keyturn.storage.rows import interaction_row, to_interaction, to_record, to_row
from keyturn.storage.tables import consents, grants, interactions, sessions, throttles


# -- authorization codes (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3) -------------------------------------------
# -- login sessions -------------------------------------------------------------------------------------
async def create_session(conn: AsyncConnection, session: LoginSession) -> None:
    await conn.execute(sessions.insert().values(**to_row(session)))


async def find_live_session(conn: AsyncConnection, session_digest: str, now: float,
                            idle: float, leeway: float = 0.0) -> LoginSession | None:
    """A session that is not ended, not past its absolute lifetime and not idle too long (each time stamp
    may come from another node: ``leeway`` seconds of clock difference are tolerated)."""
    q = select(sessions).where(sessions.c.digest == session_digest, sessions.c.ended_at.is_(None),
                               sessions.c.expires_at > now - leeway, sessions.c.last_seen_at > now - idle - leeway)
    row = (await conn.execute(q)).mappings().first()
    return to_record(LoginSession, row) if row else None


async def touch_session(conn: AsyncConnection, session_digest: str, now: float) -> None:
    await conn.execute(update(sessions).where(sessions.c.digest == session_digest).values(last_seen_at=now))


async def end_session(conn: AsyncConnection, session_digest: str, now: float) -> bool:
    res = await conn.execute(update(sessions).where(sessions.c.digest == session_digest,
                                                    sessions.c.ended_at.is_(None)).values(ended_at=now))
    return bool(res.rowcount)


async def revoke_online_grants_of_session(conn: AsyncConnection, session_digest: str, client_ids: list[str],
                                          now: float, reason: str) -> int:
    """Revoke the session's grants for these clients, except offline_access ones (OIDC Core §11)."""
    if not client_ids:
        return 0
    q = (update(grants).where(grants.c.session_id == session_digest, grants.c.revoked_at.is_(None),
                              grants.c.client_id.in_(client_ids),
                              not_(grants.c.scope.like("%offline_access%")))
         .values(revoked_at=now, revoked_reason=reason))
    return int((await conn.execute(q)).rowcount or 0)


async def client_ids_of_session(conn: AsyncConnection, session_digest: str) -> list[str]:
    q = select(grants.c.client_id).where(grants.c.session_id == session_digest).distinct()
    return [r[0] for r in await conn.execute(q)]


# -- interactions: the only link between the login UI and the protocol -----------------------------------
async def create_interaction(conn: AsyncConnection, interaction: Interaction) -> None:
    await conn.execute(interactions.insert().values(**interaction_row(interaction)))


async def find_interaction(conn: AsyncConnection, interaction_digest: str, now: float,
                           leeway: float = 0.0) -> Interaction | None:
    """The interaction if it is neither used nor expired (its expiry may be another node's clock: ``leeway``)."""
    q = select(interactions).where(interactions.c.id == interaction_digest, interactions.c.used_at.is_(None),
                                   interactions.c.expires_at > now - leeway)
    row = (await conn.execute(q)).mappings().first()
    return to_interaction(row) if row else None


async def consume_interaction(conn: AsyncConnection, interaction_digest: str, now: float,
                              leeway: float = 0.0) -> bool:
    q = (update(interactions)
         .where(interactions.c.id == interaction_digest, interactions.c.used_at.is_(None),
                interactions.c.expires_at > now - leeway)
         .values(used_at=now).returning(interactions.c.id))
    return (await conn.execute(q)).first() is not None


# -- consents -------------------------------------------------------------------------------------------
async def find_consent(conn: AsyncConnection, user_id: str, client_id: str) -> Consent | None:
    q = select(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
    row = (await conn.execute(q)).mappings().first()
    return to_record(Consent, row) if row else None


async def remember_consent(conn: AsyncConnection, user_id: str, client_id: str, scope: tuple[str, ...],
                           now: float) -> None:
    """Add ``scope`` to what the user allowed the client (the union, in the order first allowed)."""
    before = await find_consent(conn, user_id, client_id)
    merged = " ".join(dict.fromkeys((before.scopes if before else ()) + scope))
    if before:
        await conn.execute(update(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
                           .values(scope=merged, created_at=now))
    else:
        await conn.execute(consents.insert().values(user_id=user_id, client_id=client_id, scope=merged,
                                                    created_at=now))


# -- throttles (shared by every worker through the database) ---------------------------------------------
async def get_throttle(conn: AsyncConnection, key: str) -> Throttle | None:
    row = (await conn.execute(select(throttles).where(throttles.c.key == key))).mappings().first()
    return to_record(Throttle, row) if row else None


async def record_failure(conn: AsyncConnection, key: str, now: float, window: float) -> int:
    """Count a failure in the key's window (a new window starts after ``window`` seconds); returns the count."""
    res = await conn.execute(update(throttles)
                             .where(throttles.c.key == key, throttles.c.window_start > now - window)
                             .values(failures=throttles.c.failures + 1))
    if not res.rowcount:
        res = await conn.execute(update(throttles).where(throttles.c.key == key)
                                 .values(failures=1, window_start=now, locked_until=None))
        if not res.rowcount:
            await conn.execute(throttles.insert().values(key=key, failures=1, window_start=now, locked_until=None))
    row = await get_throttle(conn, key)
    return row.failures if row else 1


async def lock(conn: AsyncConnection, key: str, until: float) -> None:
    await conn.execute(update(throttles).where(throttles.c.key == key).values(locked_until=until))


async def clear_throttle(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(throttles).where(throttles.c.key == key))


async def clear_throttles_of(conn: AsyncConnection, key: str, *, prefix: bool = True) -> int:
    """Delete the throttle ``key`` and, with ``prefix``, every key under ``key + ":"``; returns rows deleted."""
    cond = throttles.c.key == key
    if prefix:
        pattern = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
        cond = or_(cond, throttles.c.key.like(pattern, escape="\\"))
    return int((await conn.execute(delete(throttles).where(cond))).rowcount or 0)
