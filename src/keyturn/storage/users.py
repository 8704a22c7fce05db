"""Users repository."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import User
from keyturn.storage.rows import to_user
from keyturn.storage.tables import users


async def insert(conn: AsyncConnection, user: User) -> None:
    await conn.execute(users.insert().values(**{f: getattr(user, f) for f in User.__slots__}))


_GET = select(users).where(users.c.id == bindparam("b_id"))


async def get(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(_GET, {"b_id": user_id})).mappings().first()
    return to_user(row) if row else None


async def find(conn: AsyncConnection, ref: str) -> User | None:
    """By id, email (case-insensitive), phone number or preferred username."""
    ref = ref.strip()
    q = select(users).where(or_(users.c.id == ref, users.c.email == ref.lower(),
                                users.c.phone_number == ref, users.c.preferred_username == ref))
    row = (await conn.execute(q)).mappings().first()
    return to_user(row) if row else None


async def set_password(conn: AsyncConnection, user_id: str, password_hash: str, now: float) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(
        password_hash=password_hash, password_changed_at=now, updated_at=now))
