"""services/database.py: an unusable database is one line naming where it points and what to check — never a
password, never a traceback."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from keyturn.core.policy import PolicyError
from keyturn.services.database import (
    BAD_URL,
    DatabaseUnavailable,
    _aiosqlite_threads_done,
    connect_problem,
    database_target,
    open_services,
)
from keyturn.settings import Settings

PG = "postgresql+asyncpg://keyturn:s3cr3t-pw@db.internal:6543/payments"


def _settings(url: str = PG, **kw: Any) -> Settings:
    return Settings(environment="development", database_url=url, **kw)


@pytest.mark.parametrize(("url", "target"), [
    (PG, "PostgreSQL at db.internal:6543/payments"),
    ("postgresql+asyncpg://u@h/db", "PostgreSQL at h:5432/db"),
    ("postgresql+asyncpg://", "PostgreSQL at localhost:5432"),
    ("sqlite+aiosqlite:///./keyturn.db", "SQLite file ./keyturn.db"),
    ("sqlite+aiosqlite://", "SQLite file :memory:"),
    ("mysql://u:pw@h/db", "mysql at h/db"),
    ("::not a url::", "the database"),
])
def test_the_target_is_named_without_its_password(url: str, target: str):
    assert database_target(url) == target


@pytest.mark.parametrize(("exc", "reason", "hint"), [
    (socket.gaierror(-2, "Name or service not known"), "unknown host", "check the host name"),
    (ConnectionRefusedError(111, "Connection refused"), "connection refused", "is the server running"),
    (OSError("Multiple exceptions: [Errno 111] Connect call failed ('10.0.0.5', 6543)"), "connection refused",
     "is the server running"),
    (TimeoutError(), "no answer within 2.5 s", "is the host reachable?"),
    (RuntimeError("server closed the connection unexpectedly\nDETAIL: more"),
     "server closed the connection unexpectedly", "check the URL"),
    (RuntimeError(""), "RuntimeError", "check the URL"),
])
def test_each_connection_problem_says_what_to_check(exc: BaseException, reason: str, hint: str):
    line = connect_problem(exc, _settings(database_timeout=2.5))
    assert line.startswith("cannot open PostgreSQL at db.internal:6543/payments (KEYTURN_DATABASE_URL): ")
    assert reason in line and hint in line
    assert "s3cr3t" not in line and "\n" not in line


def test_the_driver_error_is_found_under_sqlalchemys_wrapper():
    class InvalidCatalogNameError(Exception):
        pass

    class Wrapped(Exception):
        orig = InvalidCatalogNameError('database "payments" does not exist')

    line = connect_problem(Wrapped(), _settings())
    assert 'database "payments" does not exist' in line and "create the database or fix its name" in line


async def test_an_invalid_policy_file_is_its_own_error_not_a_database_one(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("roles: {}\n")
    with pytest.raises(PolicyError, match="policy.yaml"):
        await open_services(_settings(f"sqlite+aiosqlite:///{tmp_path}/k.db", policy_file=bad))


@pytest.mark.parametrize("url", ["nosuchdriver://x/y", "postgresql+nosuchdriver://u@h/db"])
async def test_an_unusable_url_is_the_one_bad_url_line(url: str):
    with pytest.raises(DatabaseUnavailable) as err:
        await open_services(_settings(url))
    assert str(err.value) == BAD_URL


async def test_waiting_for_aiosqlites_worker_thread_is_bounded():
    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="_connection_worker_thread-test", daemon=True)
    worker.start()
    try:
        await asyncio.wait_for(_aiosqlite_threads_done(limit=0.05), 1)  # gives up instead of hanging
    finally:
        release.set()
        worker.join()
    await asyncio.wait_for(_aiosqlite_threads_done(limit=0.05), 1)
