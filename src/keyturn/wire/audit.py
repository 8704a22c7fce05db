"""Audit events as the management API and the CLI send them (``GET /api/v2/audit/events`` and ``/export``,
``keyturn audit list|export``): the time in the API's format, the event's name as ``kind``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from keyturn.core.audit import AuditEvent
from keyturn.wire.common import Ok, iso


class AuditEventOut(BaseModel):
    id: int = Field(description="Order of writing; with `at`, the order events are listed in")
    at: str = Field(description="When it happened (UTC, milliseconds)")
    kind: str = Field(description="What happened, e.g. token.issued, login.failed, refresh_token.reuse_detected")
    actor: str | None = Field(description="Who did it (a principal's resource name), when someone did")
    subject: str | None = Field(description="Whom or what it concerns (a user, an account, an API key)")
    client_id: str | None = Field(description="The OAuth client involved")
    ip: str | None = Field(description="The caller's address, where the request had one")
    detail: dict[str, Any] = Field(description="The event's own facts (never a secret)")

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(id=event.id, at=iso(event.at) or "", kind=event.kind, actor=event.actor, subject=event.subject,
                   client_id=event.client_id, ip=event.ip, detail=event.detail)


class AuditEventsEnvelope(Ok[list[AuditEventOut]]):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
