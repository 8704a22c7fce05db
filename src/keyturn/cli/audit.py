"""``keyturn audit list | export``: the audit trail, as the management API sends it (keyturn.wire.audit).

Filters as ``GET /api/v2/audit/events`` takes them; times are ISO 8601 (``2026-12-01T00:00:00Z``; no zone
means UTC) or a duration back from now (``24h``, ``7d``). ``list`` prints one page (``--json``: the API's
envelope with ``next_cursor``); ``export`` prints every selected event as JSON lines, for an assessor.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import orjson
import typer

from keyturn.cli.common import CliError, output, run
from keyturn.core.audit import MAX_LIMIT, AuditFilter
from keyturn.core.durations import parse_duration
from keyturn.core.errors import ApiError
from keyturn.services import audit
from keyturn.services.context import Services
from keyturn.wire.audit import AuditEventOut, AuditEventsEnvelope
from keyturn.wire.common import plain

audit_app = typer.Typer(help="Read the audit trail (operator).", no_args_is_help=True)
OPERATOR = "operator"  # the actor an export from the CLI is recorded under (as the CLI's other changes)

SINCE = typer.Option(None, "--since", help="At or after: ISO 8601 time, or a duration back from now (24h, 7d).")
UNTIL = typer.Option(None, "--until", help="Before: ISO 8601 time, or a duration back from now.")
KIND = typer.Option(None, "--kind", help="Event kind (repeatable); login.* selects a family.")
ACTOR = typer.Option(None, "--actor", help="Who acted (a principal's resource name).")
SUBJECT = typer.Option(None, "--subject", help="Whom it concerns (user, account or key id).")
CLIENT = typer.Option(None, "--client-id", help="The OAuth client involved.")
ORDER = typer.Option("asc", "--order", help="asc (oldest first) or desc.")


def parse_time(text: str | None, now: float) -> float | None:
    """Epoch seconds for an ISO 8601 time (UTC without a zone) or a duration back from ``now``."""
    if text is None:
        return None
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            seconds = parse_duration(value)
        except ValueError:
            seconds = None
        if seconds is None:
            raise CliError(f"{text!r} is neither an ISO 8601 time nor a duration such as 24h") from None
        return now - seconds
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _filter(since: str | None, until: str | None, kind: list[str] | None, actor: str | None,
            subject: str | None, client_id: str | None) -> AuditFilter:
    now = time.time()
    try:
        return AuditFilter(since=parse_time(since, now), until=parse_time(until, now), kinds=tuple(kind or ()),
                           actor=actor, subject=subject, client_id=client_id)
    except ApiError as exc:
        raise CliError(exc.message) from None


def _order(order: str) -> str:
    if order not in ("asc", "desc"):
        raise CliError("--order must be asc or desc")
    return order


@audit_app.command("list")
def audit_list(since: str = SINCE, until: str = UNTIL, kind: list[str] = KIND, actor: str = ACTOR,
               subject: str = SUBJECT, client_id: str = CLIENT, order: str = ORDER,
               limit: int = typer.Option(100, min=1, max=MAX_LIMIT, help="Events per page (at most 500)."),
               cursor: str = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
               as_json: bool = typer.Option(False, "--json", help="Print the API's JSON envelope.")) -> None:
    """One page of audit events: a line each (time, kind, actor, subject, client), or --json."""
    selected, direction = _filter(since, until, kind, actor, subject, client_id), _order(order)

    async def go(ctx: Services) -> AuditEventsEnvelope:
        page = await audit.list_events(ctx, selected, cursor=cursor, limit=limit,
                                       order="desc" if direction == "desc" else "asc")
        return AuditEventsEnvelope(data=[AuditEventOut.of(e) for e in page.events], next_cursor=page.next_cursor)
    data = run(go)
    lines = [f"{e.at} {e.kind} actor={e.actor or '-'} subject={e.subject or '-'} client_id={e.client_id or '-'}"
             for e in data.data]
    if data.next_cursor:
        lines.append(f"more: --cursor {data.next_cursor}")
    output(data, as_json, "\n".join(lines) if lines else "no events")


@audit_app.command("export")
def audit_export(since: str = SINCE, until: str = UNTIL, kind: list[str] = KIND, actor: str = ACTOR,
                 subject: str = SUBJECT, client_id: str = CLIENT, order: str = ORDER) -> None:
    """Every selected audit event as JSON lines on standard output (the shape of GET /api/v2/audit/export)."""
    selected, direction = _filter(since, until, kind, actor, subject, client_id), _order(order)

    async def go(ctx: Services) -> int:
        count = 0
        out = sys.stdout.buffer
        async for event in audit.export_events(ctx, selected, actor=OPERATOR,
                                               order="desc" if direction == "desc" else "asc"):
            out.write(orjson.dumps(plain(AuditEventOut.of(event))) + b"\n")
            count += 1
        out.flush()
        return count
    count = run(go)
    typer.echo(f"exported {count} events", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
