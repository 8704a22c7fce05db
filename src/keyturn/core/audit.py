"""Audit events as records, the filters an assessor asks by, and the opaque cursor that pages them.

Events are ordered by ``(at, id)``: the time, then the order they were written in (``id`` breaks
ties between events of one instant). A cursor names the last event of a page and the direction;
the next page is every event strictly after it, so events written while someone pages never shift
a page nor repeat one (keyset paging, not offsets).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from keyturn.core.errors import ApiError

Order = Literal["asc", "desc"]
MAX_LIMIT = 500  # events per page (the API's and the CLI's `limit`)
MAX_KINDS = 20
_CURSOR_VERSION = "1"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One stored audit event (keyturn.storage.audit writes them; ``kind`` is the ``event`` column)."""

    id: int
    at: float
    kind: str
    actor: str | None = None
    subject: str | None = None
    client_id: str | None = None
    ip: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to select: ``since <= at < until``; ``kinds`` exact names, or ``prefix.*`` for a family."""

    since: float | None = None
    until: float | None = None
    kinds: tuple[str, ...] = ()
    actor: str | None = None
    subject: str | None = None
    client_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.kinds) > MAX_KINDS:
            raise ApiError(400, "INVALID_REQUEST", f"at most {MAX_KINDS} kinds")
        for kind in self.kinds:
            if not kind or len(kind) > 60 or not kind.isprintable():
                raise ApiError(400, "INVALID_REQUEST", "kind must be an event name such as login.failed")
        for name in ("actor", "subject", "client_id"):
            value = getattr(self, name)
            if value is not None and (not value or len(value) > 200 or not value.isprintable()):
                raise ApiError(400, "INVALID_REQUEST", f"{name} must be 1 to 200 printable characters")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ApiError(400, "INVALID_REQUEST", f"{name} must be a time")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ApiError(400, "INVALID_REQUEST", "until is before since")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last event's ``(at, id)`` and the direction of the paging."""

    at: float
    id: int
    order: Order = "asc"


def encode_cursor(position: Position) -> str:
    raw = f"{_CURSOR_VERSION}:{position.order}:{position.at!r}:{position.id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; a cursor that is not one of ours is ``400 INVALID_CURSOR``."""
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, order, at, ident = raw.split(":")
        position = Position(float(at), int(ident), "desc" if order == "desc" else "asc")
        if version != _CURSOR_VERSION or order not in ("asc", "desc") or not math.isfinite(position.at):
            raise ValueError("not a cursor")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "INVALID_CURSOR", "cursor is not one this server gave") from None
    return position
