"""Audit events: one helper writes them all (token issued, reuse detected, auth failed, key created…)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.storage.tables import audit_events

log = logging.getLogger("keyturn.audit")
_INSERT = audit_events.insert()


async def record(conn: AsyncConnection, event: str, *, at: float, actor: str | None = None,
                 subject: str | None = None, client_id: str | None = None, ip: str | None = None,
                 **detail: Any) -> None:
    """Write an audit event in the caller's transaction and log it. Never pass a secret here."""
    log.info("audit event=%s actor=%s subject=%s client_id=%s ip=%s %s", event, actor, subject, client_id, ip,
             detail or "")
    await conn.execute(_INSERT, {"at": at, "event": event, "actor": actor, "subject": subject, "client_id": client_id,
                                 "ip": ip, "detail": detail or None})
