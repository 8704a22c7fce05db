"""Clients repository: credentials (client-credentials clients) and OIDC relying parties."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Client
from keyturn.storage.rows import to_client
from keyturn.storage.tables import clients


async def insert(conn: AsyncConnection, client: Client) -> None:
    values = {f: getattr(client, f) for f in Client.__slots__}
    for k in ("grant_types", "redirect_uris", "post_logout_redirect_uris", "allowed_origins"):
        values[k] = list(values[k])
    await conn.execute(clients.insert().values(**values))


async def get(conn: AsyncConnection, client_id: str) -> Client | None:
    """A client by id, including disabled ones; deleted ones are gone."""
    q = select(clients).where(clients.c.client_id == client_id, clients.c.deleted_at.is_(None))
    row = (await conn.execute(q)).mappings().first()
    return to_client(row) if row else None


async def list_by_owner(conn: AsyncConnection, owner_id: str, kind: str) -> list[Client]:
    q = (select(clients).where(clients.c.owner_id == owner_id, clients.c.kind == kind,
                               clients.c.deleted_at.is_(None)).order_by(clients.c.created_at))
    return [to_client(r) for r in (await conn.execute(q)).mappings()]


async def list_by_kind(conn: AsyncConnection, kind: str) -> list[Client]:
    q = select(clients).where(clients.c.kind == kind, clients.c.deleted_at.is_(None)).order_by(clients.c.created_at)
    return [to_client(r) for r in (await conn.execute(q)).mappings()]


async def update_fields(conn: AsyncConnection, client_id: str, **values: Any) -> None:
    for k in ("grant_types", "redirect_uris", "post_logout_redirect_uris", "allowed_origins"):
        if k in values:
            values[k] = list(values[k])
    await conn.execute(update(clients).where(clients.c.client_id == client_id).values(**values))
