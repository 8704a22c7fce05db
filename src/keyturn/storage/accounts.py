"""Accounts and memberships repository."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Account, Membership
from keyturn.storage.rows import to_account
from keyturn.storage.tables import accounts, individual_accounts, memberships


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
    return Membership(**dict(row)) if row else None


async def memberships_of_user(conn: AsyncConnection, user_id: str) -> list[Membership]:
    q = (select(memberships.c.account_id, memberships.c.user_id, memberships.c.role,
                accounts.c.name.label("account_name"), accounts.c.type.label("account_type"))
         .join(accounts, accounts.c.id == memberships.c.account_id)
         .where(memberships.c.user_id == user_id).order_by(memberships.c.created_at))
    return [Membership(**dict(r)) for r in (await conn.execute(q)).mappings()]
