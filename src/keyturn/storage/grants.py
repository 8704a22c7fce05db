"""Grants, refresh tokens and revoked access tokens, named by protocol intent.

Single use and rotation are one conditional statement
(``UPDATE … WHERE used_at IS NULL RETURNING …``): zero rows means replay.

The statements of the token endpoint's write paths (refresh rotation, code exchange)
are built once, with bound parameters: building a SQLAlchemy statement per call costs
about as much as running it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Grant, RefreshToken
from keyturn.storage.rows import to_grant, to_record
from keyturn.storage.tables import grants, refresh_tokens, revoked_tokens

_INSERT_GRANT = grants.insert()
_GET_GRANT = select(grants).where(grants.c.id == bindparam("grant_id"))
_INSERT_REFRESH = refresh_tokens.insert()
_FIND_REFRESH = (select(refresh_tokens, grants.c.client_id)
                 .join(grants, grants.c.id == refresh_tokens.c.grant_id)
                 .where(refresh_tokens.c.digest == bindparam("digest")))
_GRANT_COLUMNS = [c.label(f"g_{c.name}") for c in grants.c if c.name != "revoked_reason"]
_FIND_REFRESH_MANY = (select(*refresh_tokens.c, *_GRANT_COLUMNS)
                      .join(grants, grants.c.id == refresh_tokens.c.grant_id)
                      .where(refresh_tokens.c.digest.in_(bindparam("digests", expanding=True))))
_CONSUME_REFRESH_MANY = (
    update(refresh_tokens)
    .where(refresh_tokens.c.digest.in_(bindparam("digests", expanding=True)), refresh_tokens.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
    .returning(refresh_tokens.c.digest))
_REVOKE_GRANTS = (
    update(grants)
    .where(grants.c.id.in_(bindparam("ids", expanding=True)), grants.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"), revoked_reason=bindparam("reason"))
    .returning(grants.c.id))
_CONSUME_REFRESH = (
    update(refresh_tokens)
    .where(refresh_tokens.c.digest == bindparam("b_digest"), refresh_tokens.c.used_at.is_(None),
           exists().where(grants.c.id == refresh_tokens.c.grant_id, grants.c.client_id == bindparam("b_client")))
    .values(used_at=bindparam("now"))
    .returning(*refresh_tokens.c))


async def create_grant(conn: AsyncConnection, grant: Grant) -> None:
    await conn.execute(_INSERT_GRANT, {f: getattr(grant, f) for f in Grant.__slots__})


async def create_grants(conn: AsyncConnection, new: Sequence[Grant]) -> None:
    """Many grants, one statement (group commit, services/writes.py)."""
    if new:
        await conn.execute(_INSERT_GRANT, [{f: getattr(g, f) for f in Grant.__slots__} for g in new])


async def get_grant(conn: AsyncConnection, grant_id: str) -> Grant | None:
    row = (await conn.execute(_GET_GRANT, {"grant_id": grant_id})).mappings().first()
    return to_grant(row) if row else None


async def revoke_grant(conn: AsyncConnection, grant_id: str, now: float, reason: str) -> bool:
    res = await conn.execute(update(grants).where(grants.c.id == grant_id, grants.c.revoked_at.is_(None))
                             .values(revoked_at=now, revoked_reason=reason))
    return bool(res.rowcount)


async def revoke_grants(conn: AsyncConnection, grant_ids: Iterable[str], now: float, reason: str) -> set[str]:
    """Revoke these grants in one statement; the ids of those this call revoked (not revoked before)."""
    ids = sorted(set(grant_ids))  # one lock order for every writer
    if not ids:
        return set()
    res = await conn.execute(_REVOKE_GRANTS, {"ids": ids, "now": now, "reason": reason})
    return set(res.scalars())


async def revoke_grants_of_client(conn: AsyncConnection, client_id: str, now: float, reason: str) -> None:
    await conn.execute(update(grants).where(grants.c.client_id == client_id, grants.c.revoked_at.is_(None))
                       .values(revoked_at=now, revoked_reason=reason))


async def insert_refresh_token(conn: AsyncConnection, *, digest: str, grant_id: str, generation: int,
                               scope: str, issued_at: float, expires_at: float) -> None:
    await conn.execute(_INSERT_REFRESH, {
        "digest": digest, "grant_id": grant_id, "generation": generation, "scope": scope,
        "issued_at": issued_at, "expires_at": expires_at, "used_at": None})


async def insert_refresh_tokens(conn: AsyncConnection, tokens: Sequence[RefreshToken]) -> None:
    """Many refresh tokens, one statement (their ``client_id`` is their grant's, not stored here)."""
    if tokens:
        await conn.execute(_INSERT_REFRESH, [
            {"digest": t.digest, "grant_id": t.grant_id, "generation": t.generation, "scope": t.scope,
             "issued_at": t.issued_at, "expires_at": t.expires_at, "used_at": t.used_at} for t in tokens])


async def find_refresh_tokens(conn: AsyncConnection,
                              digests: Iterable[str]) -> dict[str, tuple[RefreshToken, Grant]]:
    """These tokens (used or not) with their grants, by digest; unknown digests are absent."""
    found: dict[str, tuple[RefreshToken, Grant]] = {}
    for row in (await conn.execute(_FIND_REFRESH_MANY, {"digests": sorted(set(digests))})).mappings():
        grant = Grant(**{c.name: row[f"g_{c.name}"] for c in grants.c if c.name != "revoked_reason"})
        token = RefreshToken(digest=row["digest"], grant_id=row["grant_id"], client_id=grant.client_id,
                             generation=row["generation"], scope=row["scope"], issued_at=row["issued_at"],
                             expires_at=row["expires_at"], used_at=row["used_at"])
        found[token.digest] = (token, grant)
    return found


async def consume_refresh_tokens(conn: AsyncConnection, digests: Iterable[str], now: float) -> set[str]:
    """Mark these tokens used, in one conditional statement: the digests this call consumed. A digest
    not returned was used before (by another transaction: a replay, or a race it lost)."""
    ds = sorted(set(digests))  # one lock order for every writer
    if not ds:
        return set()
    return set((await conn.execute(_CONSUME_REFRESH_MANY, {"digests": ds, "now": now})).scalars())


async def consume_refresh_token(conn: AsyncConnection, digest: str, client_id: str,
                                now: float) -> RefreshToken | None:
    """Mark a refresh token of this client used, atomically. None: unknown, another client's, or already used."""
    row = (await conn.execute(_CONSUME_REFRESH, {"b_digest": digest, "b_client": client_id, "now": now})
           ).mappings().first()
    return to_record(RefreshToken, {**row, "client_id": client_id}) if row else None


async def find_refresh_token(conn: AsyncConnection, digest: str) -> RefreshToken | None:
    """The token with its grant's ``client_id``, used or not."""
    row = (await conn.execute(_FIND_REFRESH, {"digest": digest})).mappings().first()
    return to_record(RefreshToken, row) if row else None


async def revoked_jtis(conn: AsyncConnection, now: float) -> frozenset[str]:
    """The ``jti``s of revoked access tokens (RFC 7009) that have not expired yet."""
    q = select(revoked_tokens.c.jti).where(revoked_tokens.c.expires_at > now)
    return frozenset((await conn.execute(q)).scalars())


async def grants_revoked_since(conn: AsyncConnection, since: float) -> frozenset[str]:
    """The ids of grants revoked after ``since``."""
    q = select(grants.c.id).where(grants.c.revoked_at.is_not(None), grants.c.revoked_at > since)
    return frozenset((await conn.execute(q)).scalars())


async def revoke_access_tokens(conn: AsyncConnection, revoked: Mapping[str, float]) -> None:
    """Record these access tokens (``jti`` → ``exp``) as revoked, one statement; one already there is kept."""
    if not revoked:
        return
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(revoked_tokens).on_conflict_do_nothing(index_elements=["jti"])
    await conn.execute(stmt, [{"jti": jti, "expires_at": exp} for jti, exp in sorted(revoked.items())])
