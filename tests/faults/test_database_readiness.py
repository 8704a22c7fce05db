"""Issue 12 item 7: ``/readyz`` is real. PostgreSQL stopped -> 503 ``database``; a read-only database ->
503 ``writable`` (SQLite opened read-only, PostgreSQL with ``default_transaction_read_only``); a pending
migration -> 503 ``migrations``; back -> 200 within about a second. ``/healthz`` (and ``/health``) stay 200.
A full disk: tests/faults/test_database_full_disk.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.services.context import Services, build_services
from keyturn.settings import Settings
from keyturn.web.app import create_app, front
from tests.conftest import ISSUER
from tests.pgcluster import Cluster

pytestmark = [pytest.mark.faults, pytest.mark.timing]


@pytest.fixture
def database_url(pg_cluster: Cluster) -> str:
    return pg_cluster.url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"database_timeout": 1.0}


async def _until(client: httpx.AsyncClient, status: int, limit: float = 10.0) -> tuple[float, httpx.Response]:
    """Poll /readyz until it answers ``status``; the time that took."""
    started = time.monotonic()
    while True:
        r = await client.get("/readyz")
        if r.status_code == status or time.monotonic() - started > limit:
            return time.monotonic() - started, r
        await asyncio.sleep(0.05)


@pytest.mark.postgres
async def test_readyz_names_the_failing_check_and_recovers(client: httpx.AsyncClient, ctx: Services,
                                                           pg_cluster: Cluster) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "writable": "ok", "migrations": "ok",
                                                      "keys": "ok"}}
    assert r.headers["cache-control"] == "no-store"

    pg_cluster.stop()
    waited, r = await _until(client, 503)
    assert r.status_code == 503 and waited < 1.5
    body = r.json()
    assert body["failing"] == "database" and body["checks"]["database"].startswith("failed")
    assert r.headers["retry-after"] == "2"
    assert str(pg_cluster.port) not in r.text and "127.0.0.1" not in r.text  # nothing of the URL
    for path in ("/healthz", "/health"):  # liveness never asks the database
        assert (await client.get(path)).status_code == 200

    pg_cluster.start()
    recovered, r = await _until(client, 200)
    print(f"readyz recovery after PostgreSQL restart: {recovered:.2f} s")
    assert r.status_code == 200 and recovered < 1.5, r.text

    # a read-only database: every write fails (config reload reaches the pooled sessions too)
    pg_cluster.sql("ALTER SYSTEM SET default_transaction_read_only = on")
    pg_cluster.sql("SELECT pg_reload_conf()")
    waited, r = await _until(client, 503)
    assert r.status_code == 503 and r.json()["failing"] == "writable", r.text
    pg_cluster.sql("ALTER SYSTEM RESET default_transaction_read_only")
    pg_cluster.sql("SELECT pg_reload_conf()")
    waited, r = await _until(client, 200)
    assert r.status_code == 200 and waited < 1.5

    # a migration pending: the schema is behind the code
    head = pg_cluster.sql("SELECT version_num FROM alembic_version")
    pg_cluster.sql("UPDATE alembic_version SET version_num = '0001'")
    waited, r = await _until(client, 503)
    assert r.status_code == 503 and r.json()["failing"] == "migrations", r.text
    assert r.json()["checks"]["migrations"] == "failed (1 pending)"
    pg_cluster.sql(f"UPDATE alembic_version SET version_num = '{head}'")
    waited, r = await _until(client, 200)
    assert r.status_code == 200 and waited < 1.5


async def test_readyz_is_cached_for_about_a_second(client: httpx.AsyncClient, ctx: Services) -> None:
    first = await ctx.readiness.check()
    assert await ctx.readiness.check() is first  # within the TTL: no database work
    ctx.readiness.ttl = 0.0
    assert await ctx.readiness.check() is not first


async def test_a_read_only_sqlite_file_is_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "keyturn.db"
    base: dict[str, Any] = {"environment": "development", "issuer": ISSUER, "database_timeout": 1.0,
                             "access_log": False}
    writer = build_services(Settings(**base, database_url=f"sqlite+aiosqlite:///{path}"))
    await writer.start(run_migrations=True)  # the schema and the signing keys
    assert (await writer.readiness.check()).ready
    await writer.close()

    # the same file opened read-only, as when the file or its volume cannot be written
    ctx = build_services(Settings(**base, database_url=f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"))
    app = create_app(ctx)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=front(app, ctx.settings))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            r = await client.get("/readyz")
            assert r.status_code == 503, r.text
            assert r.json()["failing"] == "writable"
            assert r.json()["checks"] == {"database": "ok", "writable": "failed (operational)",
                                          "migrations": "ok", "keys": "ok"}
            assert (await client.get("/.well-known/jwks.json")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
