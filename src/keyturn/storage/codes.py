"""Authorization codes (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3), stored as digests: issued one at a time, redeemed
together (group commit, services/writes.py) with set-based statements.

Single use is decided per row by one conditional statement (``UPDATE … WHERE used_at IS NULL
RETURNING``): a digest it does not return was used before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import AuthorizationCode
from keyturn.storage.rows import to_record, to_row
from keyturn.storage.tables import authorization_codes as codes


async def insert_code(conn: AsyncConnection, code: AuthorizationCode) -> None:
    await conn.execute(codes.insert().values(**to_row(code)))


_FIND_MANY = select(codes).where(codes.c.digest.in_(bindparam("digests", expanding=True)))
_GRANTS_OF = select(codes.c.digest, codes.c.grant_id).where(codes.c.digest.in_(bindparam("digests", expanding=True)))


async def find_codes(conn: AsyncConnection, digests: Iterable[str]) -> dict[str, AuthorizationCode]:
    """These codes (used or not) by digest; unknown digests are absent."""
    rows = (await conn.execute(_FIND_MANY, {"digests": sorted(set(digests))})).mappings()
    return {r["digest"]: to_record(AuthorizationCode, r) for r in rows}


async def consume_codes(conn: AsyncConnection, grant_of: Mapping[str, str | None], now: float) -> set[str]:
    """Mark these codes used, each bound to its new grant (None: an expired code, marked without one), in
    one conditional statement: the digests this call consumed."""
    if not grant_of:
        return set()
    ds = sorted(grant_of)  # one lock order for every writer
    bound = {d: g for d, g in grant_of.items() if g is not None}
    stmt = (update(codes)
            .where(codes.c.digest.in_(bindparam("digests", expanding=True)), codes.c.used_at.is_(None))
            .values(used_at=bindparam("now"),
                    grant_id=case(bound, value=codes.c.digest, else_=None) if bound else None)
            .returning(codes.c.digest))
    return set((await conn.execute(stmt, {"digests": ds, "now": now})).scalars())


async def grants_of(conn: AsyncConnection, digests: Iterable[str]) -> dict[str, str | None]:
    """The grant each of these codes was redeemed for (read again after a lost race: now committed)."""
    rows = await conn.execute(_GRANTS_OF, {"digests": sorted(set(digests))})
    return {d: g for d, g in rows}
