"""Grants, refresh tokens and revoked access tokens, named by protocol intent.

Single use and rotation are one conditional statement
(``UPDATE … WHERE used_at IS NULL RETURNING …``): zero rows means replay.

The statements of the token endpoint's write paths (refresh rotation, code exchange)
are built once, with bound parameters: building a SQLAlchemy statement per call costs
about as much as running it. On SQLite, the batch statements of group commit
(services/writes.py) go straight to the aiosqlite connection under the SQLAlchemy one, in
its transaction: one trip to aiosqlite's thread each, where SQLAlchemy's adapter makes
four (cursor, execute, fetch, close). Their SQL is written below next to the
SQLAlchemy form PostgreSQL runs; the same tests run both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Grant, RefreshToken
from keyturn.storage.tables import grants, refresh_tokens, revoked_tokens

_GRANT_FIELDS = Grant.__slots__
_REFRESH_FIELDS = ("digest", "grant_id", "generation", "scope", "issued_at", "expires_at", "used_at")
_INSERT_GRANT = grants.insert()
_INSERT_REFRESH = refresh_tokens.insert()
_FIND_REFRESH_MANY = (select(*(refresh_tokens.c[f] for f in _REFRESH_FIELDS), *(grants.c[f] for f in _GRANT_FIELDS))
                      .join(grants, grants.c.id == refresh_tokens.c.grant_id)
                      .where(refresh_tokens.c.digest.in_(bindparam("digests", expanding=True))))
_CONSUME_REFRESH_MANY = (
    update(refresh_tokens)
    .where(refresh_tokens.c.digest.in_(bindparam("digests", expanding=True)), refresh_tokens.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
    .returning(refresh_tokens.c.digest))
# SQLite's text of the batch statements below: built from this module's column names and "?" marks only (every
# value is a bound parameter, never text), hence the noqa of the SQL-injection rule.
_SQLITE_INSERT_GRANT = "INSERT INTO grants ({}) VALUES ({})".format(  # noqa: S608
    ", ".join(_GRANT_FIELDS), ", ".join("?" * len(_GRANT_FIELDS)))
_SQLITE_INSERT_REFRESH = "INSERT INTO refresh_tokens ({}) VALUES ({})".format(  # noqa: S608
    ", ".join(_REFRESH_FIELDS), ", ".join("?" * len(_REFRESH_FIELDS)))
_SQLITE_FIND_REFRESH_MANY = "SELECT {} FROM refresh_tokens AS r JOIN grants AS g ON g.id = r.grant_id".format(  # noqa: S608
    ", ".join([f"r.{f}" for f in _REFRESH_FIELDS] + [f"g.{f}" for f in _GRANT_FIELDS])) + " WHERE r.digest IN ({})"
_SQLITE_CONSUME_REFRESH_MANY = (
    "UPDATE refresh_tokens SET used_at = ? WHERE digest IN ({}) AND used_at IS NULL RETURNING digest")


# PostgreSQL: many grants with their first refresh tokens in ONE statement (one round trip where two INSERTs
# made two); the refresh tokens' foreign key is checked at the end of the statement, when the grants exist.
_PG_TYPES = {"id": "text", "client_id": "text", "user_id": "text", "account_id": "text", "grant_type": "text",
             "scope": "text", "session_id": "text", "auth_time": "float8", "created_at": "float8",
             "expires_at": "float8", "revoked_at": "float8", "digest": "text", "grant_id": "text",
             "generation": "int4", "issued_at": "float8", "used_at": "float8", "dpop_jkt": "text",
             "mtls_x5t": "text"}


def _pg_unnest(prefix: str, fields: Sequence[str]) -> str:
    return ", ".join(f"CAST(:{prefix}{f} AS {_PG_TYPES[f]}[])" for f in fields)


_PG_INSERT_FAMILIES = text(
    "WITH g AS (INSERT INTO grants ({}) SELECT * FROM unnest({})) "  # noqa: S608 - column names only
    "INSERT INTO refresh_tokens ({}) SELECT * FROM unnest({})".format(
        ", ".join(_GRANT_FIELDS), _pg_unnest("g_", _GRANT_FIELDS),
        ", ".join(_REFRESH_FIELDS), _pg_unnest("r_", _REFRESH_FIELDS)))


_PG_ROTATE = text(  # the successors of the tokens the UPDATE consumed; their digests are returned
    "WITH c AS (UPDATE refresh_tokens SET used_at = :now WHERE digest = ANY(CAST(:olds AS text[])) "  # noqa: S608
    "AND used_at IS NULL RETURNING digest) "
    "INSERT INTO refresh_tokens ({0}) SELECT {1} FROM unnest(CAST(:olds AS text[]), {2}) "
    "AS n(old, {0}) JOIN c ON c.digest = n.old RETURNING digest".format(
        ", ".join(_REFRESH_FIELDS), ", ".join(f"n.{f}" for f in _REFRESH_FIELDS), _pg_unnest("r_", _REFRESH_FIELDS)))


async def create_families(conn: AsyncConnection, new: Sequence[Grant], tokens: Sequence[RefreshToken]) -> None:
    """Grants and the first refresh tokens of their families (group commit, services/writes.py)."""
    if conn.dialect.name == "postgresql" and new and tokens:
        params = {f"g_{f}": [getattr(g, f) for g in new] for f in _GRANT_FIELDS}
        params.update({f"r_{f}": [getattr(t, f) for t in tokens] for f in _REFRESH_FIELDS})
        await conn.execute(_PG_INSERT_FAMILIES, params)
        return
    await create_grants(conn, new)
    await insert_refresh_tokens(conn, tokens)


async def _sqlite(conn: AsyncConnection) -> Any | None:
    """The aiosqlite connection under ``conn`` when the database is SQLite (its statements run in ``conn``'s
    transaction), else None."""
    if conn.dialect.name != "sqlite":
        return None
    return (await conn.get_raw_connection()).driver_connection


def _marks(n: int) -> str:
    return ", ".join("?" * n)


_REVOKE_GRANTS = (
    update(grants)
    .where(grants.c.id.in_(bindparam("ids", expanding=True)), grants.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"), revoked_reason=bindparam("reason"))
    .returning(grants.c.id))


async def _insert_many(conn: AsyncConnection, records: Sequence[object], fields: Sequence[str], stmt: Any,
                       sqlite_sql: str) -> None:
    """``records``' ``fields`` as rows, one statement (executemany)."""
    if not records:
        return
    if (raw := await _sqlite(conn)) is not None:
        await raw.executemany(sqlite_sql, [tuple(getattr(r, f) for f in fields) for r in records])
    else:
        await conn.execute(stmt, [{f: getattr(r, f) for f in fields} for r in records])


async def create_grants(conn: AsyncConnection, new: Sequence[Grant]) -> None:
    """Many grants, one statement (group commit, services/writes.py)."""
    await _insert_many(conn, new, _GRANT_FIELDS, _INSERT_GRANT, _SQLITE_INSERT_GRANT)


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


async def insert_refresh_tokens(conn: AsyncConnection, tokens: Sequence[RefreshToken]) -> None:
    """Many refresh tokens, one statement (their ``client_id`` is their grant's, not stored here)."""
    await _insert_many(conn, tokens, _REFRESH_FIELDS, _INSERT_REFRESH, _SQLITE_INSERT_REFRESH)


async def find_refresh_tokens(conn: AsyncConnection,
                              digests: Iterable[str]) -> dict[str, tuple[RefreshToken, Grant]]:
    """These tokens (used or not) with their grants, by digest; unknown digests are absent."""
    ds = sorted(set(digests))
    if not ds:
        return {}
    if (raw := await _sqlite(conn)) is not None:
        sql = _SQLITE_FIND_REFRESH_MANY.format(_marks(len(ds)))
        rows: Iterable[Sequence[Any]] = await raw.execute_fetchall(sql, ds)
    else:
        rows = (await conn.execute(_FIND_REFRESH_MANY, {"digests": ds})).all()
    found: dict[str, tuple[RefreshToken, Grant]] = {}
    n = len(_REFRESH_FIELDS)
    for row in rows:  # the token's columns, then the grant's, in the orders above
        grant = Grant(*row[n:])
        d, grant_id, generation, scope, issued_at, expires_at, used_at = row[:n]
        found[d] = (RefreshToken(d, grant_id, grant.client_id, generation, scope, issued_at, expires_at, used_at),
                    grant)
    return found


async def consume_refresh_tokens(conn: AsyncConnection, digests: Iterable[str], now: float) -> set[str]:
    """Mark these tokens used, in one conditional statement: the digests this call consumed. A digest
    not returned was used before (by another transaction: a replay, or a race it lost)."""
    ds = sorted(set(digests))  # one lock order for every writer
    if not ds:
        return set()
    if (raw := await _sqlite(conn)) is not None:
        return {r[0] for r in await raw.execute_fetchall(_SQLITE_CONSUME_REFRESH_MANY.format(_marks(len(ds))),
                                                         [now, *ds])}
    return set((await conn.execute(_CONSUME_REFRESH_MANY, {"digests": ds, "now": now})).scalars())


async def rotate_refresh_tokens(conn: AsyncConnection, successor_of: Mapping[str, RefreshToken],
                                now: float) -> set[str]:
    """Consume each token (by digest) that is still unused and store its successor, atomically: the digests
    consumed. One statement on PostgreSQL (the consuming UPDATE feeds the INSERT), two on SQLite."""
    if not successor_of:
        return set()
    if conn.dialect.name == "postgresql":
        olds = sorted(successor_of)
        params: dict[str, Any] = {"now": now, "olds": olds}
        params.update({f"r_{f}": [getattr(successor_of[d], f) for d in olds] for f in _REFRESH_FIELDS})
        stored = set((await conn.execute(_PG_ROTATE, params)).scalars())
        return {d for d in olds if successor_of[d].digest in stored}
    consumed = await consume_refresh_tokens(conn, successor_of, now)
    await insert_refresh_tokens(conn, [successor_of[d] for d in sorted(consumed)])
    return consumed


_EXTEND = (update(refresh_tokens).where(refresh_tokens.c.digest == bindparam("d"), refresh_tokens.c.used_at.is_(None))
           .values(expires_at=bindparam("e")))


async def extend_refresh_tokens(conn: AsyncConnection, expiry: Mapping[str, float]) -> None:
    """Move the expiry of each unused token (digest → new ``expires_at``): a refresh token kept in use, not
    rotated (FAPI 2.0), whose idle limit restarts. In digest order, so concurrent batches never deadlock."""
    if expiry:
        await conn.execute(_EXTEND, [{"d": d, "e": expiry[d]} for d in sorted(expiry)])


_SEAL_REISSUE = (update(refresh_tokens).where(refresh_tokens.c.digest == bindparam("d"))
                 .values(reissue=bindparam("box")))


async def seal_reissues(conn: AsyncConnection, boxes: Mapping[str, bytes]) -> None:
    """Keep the sealed answer of each token's rotation (digest → box) in its row, one statement; run in the
    transaction that consumed them, so a repeat waiting on the row finds the box with ``used_at``."""
    if boxes:
        await conn.execute(_SEAL_REISSUE, [{"d": d, "box": boxes[d]} for d in sorted(boxes)])


async def find_reissues(conn: AsyncConnection, digests: Iterable[str]) -> dict[str, tuple[float, bytes]]:
    """The used tokens among these that keep a sealed answer: digest → (``used_at``, box)."""
    ds = sorted(set(digests))
    if not ds:
        return {}
    q = (select(refresh_tokens.c.digest, refresh_tokens.c.used_at, refresh_tokens.c.reissue)
         .where(refresh_tokens.c.digest.in_(ds), refresh_tokens.c.used_at.is_not(None),
                refresh_tokens.c.reissue.is_not(None)))
    return {d: (used_at, bytes(box)) for d, used_at, box in (await conn.execute(q)).all()}


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
