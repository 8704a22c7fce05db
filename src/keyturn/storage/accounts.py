"""Accounts and memberships repository."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Account, Member, Membership
from keyturn.storage.rows import to_account, to_record
from keyturn.storage.tables import accounts, individual_accounts, memberships, users


async def insert(conn: AsyncConnection, account: Account) -> None:
    values = {f: getattr(account, f) for f in Account.__slots__}
    values["flags"] = list(account.flags)
    values["subscriptions"] = list(account.subscriptions)
    await conn.execute(accounts.insert().values(**values))


async def get(conn: AsyncConnection, account_id: str) -> Account | None:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).mappings().first()
    return to_account(row) if row else None


async def add_member(conn: AsyncConnection, account_id: str, user_id: str, role: str, now: float) -> None:
    await conn.execute(memberships.insert().values(account_id=account_id, user_id=user_id, role=role, created_at=now))


async def link_individual(conn: AsyncConnection, user_id: str, account_id: str) -> None:
    await conn.execute(individual_accounts.insert().values(user_id=user_id, account_id=account_id))


async def individual_account_of(conn: AsyncConnection, user_id: str) -> str | None:
    q = select(individual_accounts.c.account_id).where(individual_accounts.c.user_id == user_id)
    return (await conn.execute(q)).scalar()


async def membership(conn: AsyncConnection, account_id: str, user_id: str) -> Membership | None:
    q = (select(memberships.c.account_id, memberships.c.user_id, memberships.c.role,
                accounts.c.name.label("account_name"), accounts.c.type.label("account_type"))
         .join(accounts, accounts.c.id == memberships.c.account_id)
         .where(memberships.c.account_id == account_id, memberships.c.user_id == user_id))
    row = (await conn.execute(q)).mappings().first()
    return to_record(Membership, row) if row else None


async def memberships_of_user(conn: AsyncConnection, user_id: str) -> list[Membership]:
    q = (select(memberships.c.account_id, memberships.c.user_id, memberships.c.role,
                accounts.c.name.label("account_name"), accounts.c.type.label("account_type"))
         .join(accounts, accounts.c.id == memberships.c.account_id)
         .where(memberships.c.user_id == user_id).order_by(memberships.c.created_at))
    return [to_record(Membership, r) for r in (await conn.execute(q)).mappings()]


async def rename_account(conn: AsyncConnection, account_id: str, name: str, now: float, by: str) -> None:
    await conn.execute(accounts.update().where(accounts.c.id == account_id)
                       .values(name=name, updated_at=now, updated_by=by))


async def set_features(conn: AsyncConnection, account_id: str, column: Literal["flags", "subscriptions"],
                       names: list[str], now: float, by: str) -> None:
    """Replace an account's ``flags`` or ``subscriptions`` (the caller holds the row's lock)."""
    await conn.execute(accounts.update().where(accounts.c.id == account_id)
                       .values({column: names, "updated_at": now, "updated_by": by}))


async def holdings_of_user(conn: AsyncConnection, user_id: str) -> list[tuple[Account, str]]:
    """Every account the user is a member of, with the user's role on it."""
    q = (select(accounts, memberships.c.role.label("member_role"))
         .join(memberships, memberships.c.account_id == accounts.c.id)
         .where(memberships.c.user_id == user_id).order_by(memberships.c.created_at))
    out = []
    for r in (await conn.execute(q)).mappings():
        d = dict(r)
        role = d.pop("member_role")
        out.append((to_account(d), role))
    return out



async def members_of_account(conn: AsyncConnection, account_id: str) -> list[Member]:
    q = (select(memberships.c.user_id, memberships.c.role, memberships.c.created_at,
                users.c.email, users.c.preferred_username)
         .join(users, users.c.id == memberships.c.user_id)
         .where(memberships.c.account_id == account_id).order_by(memberships.c.created_at))
    return [to_record(Member, r) for r in (await conn.execute(q)).mappings()]


async def count_role(conn: AsyncConnection, account_id: str, role: str) -> int:
    q = (select(func.count()).select_from(memberships)
         .where(memberships.c.account_id == account_id, memberships.c.role == role))
    return int((await conn.execute(q)).scalar() or 0)


async def remove_member(conn: AsyncConnection, account_id: str, user_id: str) -> int:
    res = await conn.execute(memberships.delete().where(memberships.c.account_id == account_id,
                                                        memberships.c.user_id == user_id))
    return int(res.rowcount or 0)


async def lock_account(conn: AsyncConnection, account_id: str) -> Account | None:
    """Read the account and lock its row until the transaction ends (PostgreSQL; SQLite is serial)."""
    q = select(accounts).where(accounts.c.id == account_id).with_for_update()
    row = (await conn.execute(q)).mappings().first()
    return to_account(row) if row else None
