"""Audit events: one helper writes them all (token issued, reuse detected, auth failed, key created…)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.audit import AuditEvent, AuditFilter, Position
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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(f: AuditFilter, after: Position | None) -> list[ColumnElement[bool]]:
    t = audit_events.c
    where: list[ColumnElement[bool]] = []
    if f.since is not None:
        where.append(t.at >= f.since)
    if f.until is not None:
        where.append(t.at < f.until)
    if f.kinds:
        exact = [k for k in f.kinds if not k.endswith(".*")]
        families = [t.event.like(_escape_like(k[:-1]) + "%", escape="\\") for k in f.kinds if k.endswith(".*")]
        where.append(or_(*([t.event.in_(exact)] if exact else []), *families))
    for column, value in ((t.actor, f.actor), (t.subject, f.subject), (t.client_id, f.client_id)):
        if value is not None:
            where.append(column == value)
    if after is not None:  # keyset: strictly after the last event of the previous page, in paging order
        if after.order == "desc":
            where.append(or_(t.at < after.at, and_(t.at == after.at, t.id < after.id)))
        else:
            where.append(or_(t.at > after.at, and_(t.at == after.at, t.id > after.id)))
    return where


async def query(conn: AsyncConnection, f: AuditFilter, *, after: Position | None = None, limit: int = 100,
                order: str = "asc") -> list[AuditEvent]:
    """At most ``limit`` events matching ``f``, by ``(at, id)`` in ``order``, strictly after ``after``."""
    t = audit_events.c
    by = (t.at.desc(), t.id.desc()) if order == "desc" else (t.at.asc(), t.id.asc())
    rows = await conn.execute(select(audit_events).where(*_where(f, after)).order_by(*by).limit(limit))
    return [AuditEvent(id=r.id, at=r.at, kind=r.event, actor=r.actor, subject=r.subject, client_id=r.client_id,
                       ip=r.ip, detail=dict(r.detail or {})) for r in rows]
