"""Users repository."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.identifiers import normalise_email, normalise_username, phone_e164
from keyturn.core.models import User
from keyturn.core.text import is_clean
from keyturn.storage.rows import to_record
from keyturn.storage.tables import users


async def insert(conn: AsyncConnection, user: User) -> None:
    await conn.execute(users.insert().values(**{f: getattr(user, f) for f in User.__slots__}))


_GET = select(users).where(users.c.id == bindparam("b_id"))


async def get(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(_GET, {"b_id": user_id})).mappings().first()
    return to_record(User, row) if row else None


_GET_MANY = select(users).where(users.c.id.in_(bindparam("b_ids", expanding=True)))


async def get_many(conn: AsyncConnection, user_ids: Iterable[str]) -> dict[str, User]:
    """These users by id, one statement; unknown ids are absent."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {u.id: u for u in (to_record(User, r) for r in (await conn.execute(_GET_MANY, {"b_ids": ids})).mappings())}


async def find(conn: AsyncConnection, ref: str, phone_region: str | None = None) -> User | None:
    """By id, email, phone number or preferred username. The email is compared in its stored normal
    form (NFKC, lower case) and a phone number as typed is also compared in E.164
    (keyturn.core.identifiers; ``phone_region`` reads numbers typed without ``+``)."""
    ref = ref.strip()
    if not ref or len(ref) > 320 or not is_clean(ref):  # NUL or a surrogate never reaches the database
        return None
    phones = {ref}
    e164 = phone_e164(ref, phone_region)
    if e164 is not None:
        phones.add(e164)
    q = select(users).where(or_(users.c.id == ref, users.c.email == normalise_email(ref),
                                users.c.phone_number.in_(sorted(phones)),
                                users.c.preferred_username.in_(sorted({ref, normalise_username(ref)}))))
    row = (await conn.execute(q)).mappings().first()
    return to_record(User, row) if row else None
