"""The audit trail over HTTP: ``GET /api/v2/audit/events`` (a page) and ``GET /api/v2/audit/export`` (NDJSON).

Only the operator (``keyturn:admin``) and auditors (``keyturn:audit``) read it: access tokens the operator
mints with ``keyturn tokens issue --scope keyturn:audit`` (keyturn.services.audit). Both take the same
filters; a page is at most 500 events, the next one named by an opaque ``cursor``; the export streams
every selected event, one JSON object per line, in the shape of the listing's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BeforeValidator
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from keyturn.core.audit import MAX_LIMIT, AuditFilter
from keyturn.core.models import Principal
from keyturn.services import audit
from keyturn.web.auth import current_principal
from keyturn.web.responses import error_answers, shape_response
from keyturn.web.routing import ManagementRoute
from keyturn.web.state import services
from keyturn.wire.audit import AuditEventOut, AuditEventsEnvelope
from keyturn.wire.common import plain

router = APIRouter(prefix="/api/v2/audit", tags=["audit"], route_class=ManagementRoute)
ERRORS = error_answers({
    400: "Invalid filter, limit or cursor (INVALID_REQUEST, INVALID_CURSOR)",
    401: "Missing, invalid or expired access token",
    403: "Neither the operator nor an auditor (needs keyturn:audit or keyturn:admin from keyturn-operator)",
})
NDJSON = "application/x-ndjson"



def _iso_only(value: Any) -> Any:
    """Times as ISO 8601 text only: pydantic would also read a bare number as epoch seconds, which the
    documented ``date-time`` format does not allow (and a reader of a URL could not tell)."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("must be an ISO 8601 time with a zone, such as 2026-12-01T00:00:00Z")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
Since = Annotated[IsoTime | None, Query(description="Events at or after this time (ISO 8601 with zone)")]
Until = Annotated[IsoTime | None, Query(description="Events before this time (ISO 8601 with zone)")]
Kinds = Annotated[list[str] | None, Query(
    alias="kind", description="Event kinds (repeat for several); `login.*` selects a family")]
Actor = Annotated[str | None, Query(max_length=200, description="Who acted (a principal's resource name)")]
Subject = Annotated[str | None, Query(max_length=200, description="Whom it concerns (user, account, key id)")]
ClientId = Annotated[str | None, Query(max_length=200, description="The OAuth client involved")]
OrderQ = Annotated[Literal["asc", "desc"], Query(description="By time: oldest first (asc) or newest first")]


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _filter(since: datetime | None, until: datetime | None, kinds: list[str] | None, actor: str | None,
            subject: str | None, client_id: str | None) -> AuditFilter:
    return AuditFilter(since=_epoch(since), until=_epoch(until), kinds=tuple(kinds or ()), actor=actor,
                       subject=subject, client_id=client_id)


@router.get("/events", response_model=AuditEventsEnvelope, responses=ERRORS,
            summary="Audit events, filtered and paged (operator or auditor)")
async def list_audit_events(
        request: Request, since: Since = None, until: Until = None, kinds: Kinds = None, actor: Actor = None,
        subject: Subject = None, client_id: ClientId = None,
        cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Events per page (at most 500)")] = 100,
        order: OrderQ = "asc", principal: Principal = Depends(current_principal)) -> Response:
    audit.require_auditor(principal)
    page = await audit.list_events(services(request), _filter(since, until, kinds, actor, subject, client_id),
                                   cursor=cursor, limit=limit, order=order)
    return shape_response(AuditEventsEnvelope(data=[AuditEventOut.of(e) for e in page.events],
                                              next_cursor=page.next_cursor))


@router.get("/export", response_class=StreamingResponse, responses={
    **ERRORS, 200: {"description": "Every selected event, one AuditEventOut JSON object per line",
                    "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/AuditEventOut"}}}}},
    summary="Every selected audit event as JSON lines, streamed (operator or auditor)")
async def export_audit_events(
        request: Request, since: Since = None, until: Until = None, kinds: Kinds = None, actor: Actor = None,
        subject: Subject = None, client_id: ClientId = None, order: OrderQ = "asc",
        principal: Principal = Depends(current_principal)) -> Response:
    audit.require_auditor(principal)
    selected = _filter(since, until, kinds, actor, subject, client_id)
    events = audit.export_events(services(request), selected, actor=principal.resource_name, order=order)
    first = await anext(events, None)  # the export is recorded (and the database reached) before the 200

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield orjson.dumps(plain(AuditEventOut.of(first))) + b"\n"
        async for event in events:
            yield orjson.dumps(plain(AuditEventOut.of(event))) + b"\n"

    return StreamingResponse(lines(), media_type=NDJSON, headers={
        "cache-control": "no-store", "content-disposition": 'attachment; filename="audit-events.ndjson"'})
