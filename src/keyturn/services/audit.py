"""Reading the audit trail: a page of events (``GET /api/v2/audit/events``, ``keyturn audit list``) and the
whole selection as a stream (``GET /api/v2/audit/export``, ``keyturn audit export``).

Who may read it: the operator and auditors — an access token Keyturn's operator client minted
(``keyturn tokens issue``) with scope ``keyturn:admin`` or the read-only ``keyturn:audit``. The CLI reads
it as the operator. An export is itself audited (``audit.exported``: who, with which filters).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

from keyturn.core.audit import MAX_LIMIT, AuditEvent, AuditFilter, Order, Position, decode_cursor, encode_cursor
from keyturn.core.errors import ApiError, forbidden
from keyturn.core.models import Principal
from keyturn.services.context import Services
from keyturn.services.tokens import OPERATOR_CLIENT_ID
from keyturn.storage import audit as audit_repo

ADMIN_SCOPE = "keyturn:admin"
AUDIT_SCOPE = "keyturn:audit"  # read-only: the audit trail, nothing else
EXPORT_PAGE = MAX_LIMIT  # events per query while an export streams (each its own short read)


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None  # None: this was the last page


def require_auditor(principal: Principal) -> None:
    """The operator (``keyturn:admin``) or an auditor (``keyturn:audit``), both minted by the operator client."""
    scopes = principal.scopes or ()
    if principal.kind != "user" or principal.client_id != OPERATOR_CLIENT_ID:
        raise forbidden(AUDIT_SCOPE)
    if ADMIN_SCOPE not in scopes and AUDIT_SCOPE not in scopes:
        raise forbidden(AUDIT_SCOPE)


def _start(cursor: str | None, order: Order) -> Position | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    if position.order != order:
        raise ApiError(400, "INVALID_CURSOR", "the cursor belongs to a listing in the other order")
    return position


async def list_events(ctx: Services, f: AuditFilter, *, cursor: str | None = None, limit: int = 100,
                      order: Order = "asc") -> AuditPage:
    """One page: at most ``limit`` (1–500) events after ``cursor``; ``next_cursor`` when more may follow."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "INVALID_REQUEST", f"limit must be between 1 and {MAX_LIMIT}")
    after = _start(cursor, order)
    async with ctx.engine.connect() as conn:
        events = await audit_repo.query(conn, f, after=after, limit=limit + 1, order=order)
    more = len(events) > limit
    events = events[:limit]
    last = events[-1] if events else None
    next_cursor = encode_cursor(Position(last.at, last.id, order)) if more and last is not None else None
    return AuditPage(events, next_cursor)


async def export_events(ctx: Services, f: AuditFilter, *, actor: str, order: Order = "asc"
                        ) -> AsyncIterator[AuditEvent]:
    """Every event ``f`` selects, in pages of EXPORT_PAGE read one after another (no transaction held open
    while the caller writes them out). Records the export first."""
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        await audit_repo.record(conn, "audit.exported", at=now, actor=actor,
                                filters={k: v for k, v in asdict(f).items() if v not in (None, ())})
    after: Position | None = None
    while True:
        async with ctx.engine.connect() as conn:
            events = await audit_repo.query(conn, f, after=after, limit=EXPORT_PAGE, order=order)
        for event in events:
            yield event
        if len(events) < EXPORT_PAGE:
            return
        after = Position(events[-1].at, events[-1].id, order)
