"""The request a log line belongs to: its id, carried in a context variable.

The front (keyturn.web.server.requestid) sets it for each HTTP request, from a valid ``X-Request-Id``
or a new one, and resets it when the answer is sent; every log record made while the request runs
carries it (keyturn.logconfig). A task started during a request copies the context, so long-lived
background tasks (the group-commit drainer) start with an empty one: :data:`EMPTY` (via
``contextvars.Context()``), never the id of the request that happened to start them.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("keyturn_request_id", default=None)

MAX_REQUEST_ID = 128
_VALID = re.compile(rf"[A-Za-z0-9._:+/=@-]{{1,{MAX_REQUEST_ID}}}")


def valid_request_id(value: str) -> bool:
    """An id a caller may choose: 1–128 characters of letters, digits and ``. _ : + / = @ -`` (nothing
    that could break a log line or a header)."""
    return _VALID.fullmatch(value) is not None


def current_request_id() -> str | None:
    return REQUEST_ID.get()
