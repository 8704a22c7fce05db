"""Audit events: one helper writes them all (token issued, reuse detected, auth failed, key created…)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.storage.tables import audit_events

log = logging.getLogger("keyturn.audit")
_INSERT = audit_events.insert()


async def record(conn: AsyncConnection, event: str, *, at: float, actor: str | None = None,
                 subject: str | None = None, client_id: str | None = None, ip: str | None = None,
                 **detail: Any) -> None:
    """Write an audit event in the caller's transaction and log it. Never pass a secret here."""
    await record_many(conn, [Event(event, at, actor, subject, client_id, ip, detail)])


@dataclass(frozen=True, slots=True)
class Event:
    """An audit event to write with others (:func:`record_many`)."""

    event: str
    at: float
    actor: str | None = None
    subject: str | None = None
    client_id: str | None = None
    ip: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


async def record_many(conn: AsyncConnection, events: Sequence[Event]) -> None:
    """Write these events in the caller's transaction, one statement, and log each. Never pass a secret here."""
    if not events:
        return
    for e in events:
        log.info("audit event=%s actor=%s subject=%s client_id=%s ip=%s %s", e.event, e.actor, e.subject,
                 e.client_id, e.ip, e.detail or "")
    await conn.execute(_INSERT, [{"at": e.at, "event": e.event, "actor": e.actor, "subject": e.subject,
                                  "client_id": e.client_id, "ip": e.ip, "detail": e.detail or None} for e in events])
