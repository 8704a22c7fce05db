"""Database outages: which exceptions mean "the database is unavailable", and their log and metric.

:func:`classify` answers a short kind (``connection``, ``timeout``, ``pool``, ``resources``,
``conflict``, ``operational``) for an exception that says the database (or the way to it) failed,
and None for anything else (a bug, a constraint). The error pipeline (keyturn.web.errors) answers
such a request 503 with ``Retry-After`` in its audience's shape and calls :meth:`OutageLog.failed`:
one WARNING line per failed request, no traceback, counted in ``keyturn_database_errors_total``.
The engine (keyturn.storage.db.BoundedEngine) calls :meth:`OutageLog.succeeded` after every database
block that completed; the first one after failures writes the summary line ("database available
again after X s, N requests failed").
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from keyturn import metrics

log = logging.getLogger("keyturn.database")
# The exception families a database failure arrives as (the error pipeline's entries for them).
FAMILIES: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
RETRY_AFTER = 2  # seconds, the Retry-After of every "database unavailable" answer
# SQLSTATE classes (PostgreSQL appendix A): 08 connection exception, 53 insufficient resources,
# 57P01-57P05 admin/crash shutdown, cannot connect now, idle session timeout; 40 transaction rollback.
_CONNECTION_CLASSES = ("08",)
_RESOURCE_CLASSES = ("53",)
_SHUTDOWN_PREFIX = "57P0"
_CONFLICT_CLASSES = ("40",)
# An OSError that is not the driver's: a missing template or a file the process may not read.
_NOT_DRIVER = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wraps (``.orig``) and its causes, each once (bounded)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 12:
        cur = todo.pop(0)
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        for nxt in (getattr(cur, "orig", None), cur.__cause__, cur.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE an exception carries (asyncpg's ``sqlstate``, psycopg's ``pgcode``)."""
    for e in _chain(exc):
        code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def classify(exc: BaseException) -> str | None:
    """The kind of database unavailability ``exc`` reports, or None when it is not one."""
    code = sqlstate(exc)
    if code is not None:
        if code.startswith(_CONNECTION_CLASSES) or code.startswith(_SHUTDOWN_PREFIX):
            return "connection"
        if code.startswith(_RESOURCE_CLASSES):
            return "resources"
        if code.startswith(_CONFLICT_CLASSES):
            return "conflict"
    for e in _chain(exc):
        if isinstance(e, PoolTimeout):
            return "pool"
        if isinstance(e, TimeoutError | asyncio.TimeoutError):
            return "timeout"
        if isinstance(e, OSError) and not isinstance(e, _NOT_DRIVER):
            return "connection"
        if isinstance(e, InterfaceError) or (isinstance(e, DBAPIError) and e.connection_invalidated):
            return "connection"
        if type(e).__name__ in ("ConnectionDoesNotExistError", "InterfaceError", "PostgresConnectionError",
                                "ConnectionFailureError", "CannotConnectNowError", "TooManyConnectionsError"):
            return "connection"
    if any(isinstance(e, OperationalError) for e in _chain(exc)):
        return "operational"  # SQLite: locked past busy_timeout, read-only file, disk full or I/O error
    return None


class OutageLog:
    """Per process: counts the requests that failed for want of the database and reports the recovery."""

    def __init__(self) -> None:
        self.failures = 0  # requests failed since the last success
        self.since: float | None = None  # monotonic time of the first of them

    def failed(self, kind: str, what: str) -> None:
        """One request failed: one WARNING line (never a traceback, never a detail of the error)."""
        metrics.DATABASE_ERRORS.labels(kind).inc()
        if self.since is None:
            self.since = time.monotonic()
        self.failures += 1
        log.warning("database unavailable (%s): %s answered 503", kind, what)

    def succeeded(self) -> None:
        """A database block completed: after failures, one summary line."""
        if self.since is None:
            return
        elapsed, count = time.monotonic() - self.since, self.failures
        self.since, self.failures = None, 0
        log.warning("database available again after %.2f s, %d requests failed", elapsed, count)


OUTAGES = OutageLog()
