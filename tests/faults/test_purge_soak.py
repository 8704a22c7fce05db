"""Soak: steady load on a real ``keyturn serve`` with the purge on; the tables stay flat.

Time is aged instead of waited for: every few seconds the test moves every timestamp of the tables the
load writes two days into the past (as if two days had passed: every family, code, interaction and
revoked token is then long dead), and the server's own purge task (``KEYTURN_PURGE_INTERVAL=1``) must
delete them while the load goes on. Table sizes are sampled after each ageing: they stay near what one
ageing period writes, where without the purge they would grow with every request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from keyturn.storage.db import make_engine
from keyturn.storage.tables import metadata
from tests.conftest import PG_BASE, _pg_schema, require_service
from tests.oidc.helpers import authorize_params, pkce_pair
from tests.server import start_server

pytestmark = [pytest.mark.faults, pytest.mark.server]

LOAD_SECONDS = 18.0
AGE_EVERY = 3.0
AGE = 2 * 86400.0
MAX_REQUESTS = 20000
REDIRECT = "http://127.0.0.1/cb"
AGED = {  # table: the time columns the load writes
    "grants": ("created_at", "expires_at", "revoked_at"),
    "refresh_tokens": ("issued_at", "expires_at", "used_at"),
    "revoked_tokens": ("expires_at",),
    "interactions": ("created_at", "expires_at"),
    "audit_events": ("at",),
}


@asynccontextmanager
async def database(kind: str, workdir: Path, name: str) -> AsyncIterator[str]:
    """A SQLite file, or a fresh PostgreSQL schema (dropped afterwards) named after this helper's test."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir}/{name}.db"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"{name}_{uuid.uuid4().hex[:10]}"
    await _pg_schema(True, schema)
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        await _pg_schema(False, schema)


async def _sizes(engine: Any) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t: (await conn.execute(select(func.count()).select_from(metadata.tables[t]))).scalar_one()
                for t in AGED}


async def _age(engine: Any) -> None:
    async with engine.begin() as conn:
        for table, cols in AGED.items():
            sets = ", ".join(f"{c} = {c} - {AGE}" for c in cols)
            await conn.execute(text(f"UPDATE {table} SET {sets}"))  # noqa: S608 - this module's names only


async def _load(url: str, auth: tuple[str, str], rp: str, stop: float, done: dict[str, int]) -> None:
    _, challenge = pkce_pair()
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        while time.monotonic() < stop and sum(done.values()) < MAX_REQUESTS:
            r = await c.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
            assert r.status_code == 200, r.text
            first = r.json()
            r = await c.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                             auth=auth)
            assert r.status_code in (200, 400), r.text  # 400: aged between the two requests
            assert (await c.post("/revoke", data={"token": first["access_token"]}, auth=auth)).status_code == 200
            if r.status_code == 200 and done["families"] % 2:  # every other family revoked, the rest expire
                assert (await c.post("/revoke", data={"token": r.json()["refresh_token"]},
                                     auth=auth)).status_code == 200
            a = await c.get("/authorize", params=authorize_params(rp, challenge, redirect_uri=REDIRECT))
            assert a.status_code == 303 and a.headers["location"].startswith("/interaction/"), a.text
            done["families"] += 1
            done["requests"] += 5


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_tables_stay_flat_under_steady_load(kind: str, tmp_path: Path) -> None:
    async with database(kind, tmp_path, "purge_soak") as db:
        server = start_server(db, tmp_path, env_extra={
            "KEYTURN_PURGE_INTERVAL": "1", "KEYTURN_PURGE_GRACE": "0", "KEYTURN_ACCESS_TOKEN_TTL": "60",
            "KEYTURN_AUDIT_RETENTION": "86400"})
        engine = make_engine(db, pool_size=1)
        try:
            owner = server.cli("users", "create", "--email", "soak@example.test", "--password", "correct horse b")
            cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "soak", "--scope", "a",
                              "--refresh", "1d")["data"]
            rp = server.cli("clients", "create", "--name", "soak", "--public", "--first-party",
                            "--redirect-uri", REDIRECT)["client_id"]
            done = {"families": 0, "requests": 0}
            start = await _sizes(engine)
            stop = time.monotonic() + LOAD_SECONDS
            load = asyncio.gather(*(_load(server.url, (cred["username"], cred["password"]), rp, stop, done)
                                    for _ in range(4)))
            samples: list[dict[str, int]] = []
            while not load.done():
                await asyncio.wait({load}, timeout=AGE_EVERY)
                if load.done():
                    break
                samples.append(await _sizes(engine))
                await _age(engine)
            await load  # raises what a load task raised
            await _age(engine)  # everything written is now dead: the purge must leave nothing
            for _ in range(32):  # the purge runs every 1 s (±20%): 8 s at most
                if (end := await _sizes(engine)) == dict.fromkeys(AGED, 0):
                    break
                await asyncio.sleep(0.25)
            figures = (f"[{kind}] {done['requests']} requests, {done['families']} families in {LOAD_SECONDS:.0f} s; "
                       f"sizes at start {start}; every {AGE_EVERY:.0f} s: "
                       + "; ".join(f"{s['grants']}/{s['refresh_tokens']}/{s['revoked_tokens']}/{s['interactions']}"
                                   for s in samples) + f" (grants/refresh/jti/interactions); after: {end}")
            print(figures)
            assert done["families"] > 100, figures
            assert end == dict.fromkeys(AGED, 0), figures
            # Flat: the last samples are no bigger than the early ones (each holds about one period's rows).
            early = max(s["grants"] for s in samples[:2])
            assert all(s["grants"] <= 2 * early for s in samples[2:]), figures
            assert done["families"] > 2 * max(s["grants"] for s in samples), figures
            assert "purged " in server.log()
        finally:
            await engine.dispose()
            server.stop()
