"""The error pipeline's database entries (keyturn.web.errors): an error that says the database is unavailable
is a 503 with Retry-After; any other database error (a constraint, a bug) stays a logged 500, and neither
reaches the server as an exception (no traceback per request)."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from keyturn.services.context import Services


def _raising(exc: Exception) -> Any:
    async def client(client_id: str, now: float) -> None:
        raise exc
    return client


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_database_errors_in_the_pipeline(client: httpx.AsyncClient, ctx: Services,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    form = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}
    monkeypatch.setattr(ctx, "client", _raising(
        IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed"))))
    r = await client.post("/token", data=form)
    assert (r.status_code, r.json()) == (500, {"error": "server_error"})
    assert "retry-after" not in r.headers
    assert any(rec.exc_info for rec in caplog.records if rec.name == "keyturn.errors")  # a bug: logged in full

    caplog.clear()
    monkeypatch.setattr(ctx, "client", _raising(
        OperationalError("SELECT", None, sqlite3.OperationalError("database is locked"))))
    r = await client.post("/token", data=form)
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"
    assert r.headers["retry-after"] == "2"
    assert not [rec for rec in caplog.records if rec.exc_info]
    r = await client.get("/authorize", params={"client_id": "c", "response_type": "code"})
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")

    # an unavailability that arrives outside SQLAlchemy's and OSError's families (a driver's own class)
    class ConnectionDoesNotExistError(Exception):
        pass

    monkeypatch.setattr(ctx, "client", _raising(ConnectionDoesNotExistError("gone")))
    r = await client.post("/token", data=form)
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"


def test_an_unrouted_request_gets_the_management_shape() -> None:
    from starlette.requests import Request

    from keyturn.web.errors import unavailable
    request = Request({"type": "http", "method": "GET", "path": "/nowhere", "headers": [], "query_string": b"",
                       "scheme": "http", "server": ("keyturn.test", 80), "root_path": ""})
    r = unavailable(request, "connection")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert b"TEMPORARILY_UNAVAILABLE" in bytes(r.body)
