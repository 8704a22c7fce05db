"""Opening the database for a command: one line naming ``KEYTURN_DATABASE_URL`` and where it points
(host:port or file, never a password) and what to check, when the URL is unusable or the database does
not answer. The CLI prints that line (keyturn.cli.common); ``keyturn serve`` opens it this way too.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from keyturn.core.policy import PolicyError
from keyturn.services.context import Services, build_services
from keyturn.settings import Settings

BAD_URL = ("KEYTURN_DATABASE_URL: not a usable database URL; use sqlite+aiosqlite:///path/to/file.db "
           "or postgresql+asyncpg://user@host:5432/database")


class DatabaseUnavailable(Exception):
    """The database URL is unusable or the database cannot be opened; the message is the one line to print."""


async def open_services(settings: Settings) -> Services:
    """:func:`build_services`, then prove the database answers (else :class:`DatabaseUnavailable`)."""
    try:
        ctx = build_services(settings)
    except PolicyError:
        raise  # its own one line (KeyturnError)
    except (SQLAlchemyError, ImportError, ValueError):
        raise DatabaseUnavailable(BAD_URL) from None
    try:
        async with ctx.engine.connect():
            pass
    except Exception as exc:  # OSError, SQLAlchemy's or a driver's own class: all a connection problem here
        await ctx.close()
        if settings.is_sqlite:
            await _aiosqlite_threads_done()
        raise DatabaseUnavailable(connect_problem(exc, settings)) from None
    return ctx


def database_target(url: str) -> str:
    """Where a database URL points, without its password: ``file ./keyturn.db``, ``PostgreSQL at h:5432/db``."""
    try:
        u = make_url(url)
    except Exception:
        return "the database"
    backend = u.get_backend_name()
    if backend == "sqlite":
        return f"SQLite file {u.database or ':memory:'}"
    port = u.port or (5432 if backend == "postgresql" else None)
    where = f"{u.host or 'localhost'}" + (f":{port}" if port else "")
    name = "PostgreSQL" if backend == "postgresql" else backend
    return f"{name} at {where}" + (f"/{u.database}" if u.database else "")


def connect_problem(exc: BaseException, settings: Settings) -> str:
    """What went wrong opening the database and how to fix it (no password: messages name hosts and users)."""
    target = database_target(settings.database_url)
    orig = getattr(exc, "orig", None) or exc
    names = {type(e).__name__ for e in _chain(orig)}
    if isinstance(orig, socket.gaierror):
        reason, hint = "unknown host", "check the host name"
    elif isinstance(orig, ConnectionRefusedError) or "Connect call failed" in str(orig):
        reason, hint = "connection refused", "is the server running and listening there?"
    elif isinstance(orig, TimeoutError):
        reason, hint = f"no answer within {settings.database_timeout:g} s", "is the host reachable?"
    elif names & {"InvalidPasswordError", "InvalidAuthorizationSpecificationError"}:
        reason, hint = _first_line(orig), "check the user and password"
    elif "InvalidCatalogNameError" in names:
        reason, hint = _first_line(orig), "create the database or fix its name"
    elif settings.is_sqlite:
        reason = _first_line(orig)
        hint = "does its directory exist, and may this user write there?"
    else:
        reason, hint = _first_line(orig), "check the URL"
    return f"cannot open {target} (KEYTURN_DATABASE_URL): {reason}; {hint}"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


async def _aiosqlite_threads_done(limit: float = 1.0) -> None:
    """After a failed connect aiosqlite stops its worker thread without waiting for it; if
    asyncio.run closed the loop first, that thread would print a traceback. Wait (bounded) for it."""
    for _ in range(int(limit / 0.01)):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)
