"""Soak: steady load on a real ``keyturn serve`` with the purge on; the tables stay flat.

Time is aged instead of waited for: every two seconds the test moves every timestamp of the tables the
load writes two days into the past (as if two days had passed: every family, code, interaction, session,
throttle and revoked token is then long dead), and the server's own purge task
(``KEYTURN_PURGE_INTERVAL=1``) must delete them while the load goes on: clients minting, refreshing and
revoking tokens, people signing in (a session, a code redeemed) and strangers failing to (throttle rows).
Table sizes are sampled before each ageing: they stay near what one period writes, where without the
purge they would grow with every request. After the load one last ageing must leave every table empty.
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
from sqlalchemy.exc import DBAPIError

from keyturn.storage.db import make_engine
from keyturn.storage.tables import metadata
from tests.conftest import PG_BASE, _pg_schema, require_service
from tests.oidc.helpers import authorize_params, form_of, pkce_pair
from tests.server import start_server

pytestmark = [pytest.mark.faults, pytest.mark.server]

LOAD_SECONDS = 12.0
AGE_EVERY = 2.0
AGE = 2 * 86400.0
MAX_REQUESTS = 20000
REDIRECT = "http://127.0.0.1/cb"
PASSWORD = "correct horse battery"
AGED = {  # table: the time columns the load writes
    "grants": ("created_at", "expires_at", "revoked_at"),
    "refresh_tokens": ("issued_at", "expires_at", "used_at"),
    "revoked_tokens": ("expires_at",),
    "interactions": ("created_at", "expires_at"),
    "audit_events": ("at",),
    "authorization_codes": ("created_at", "expires_at", "used_at"),
    "sessions": ("auth_time", "created_at", "last_seen_at", "expires_at", "ended_at"),
    "throttles": ("window_start", "locked_until"),
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
    """Every timestamp moved back, one table per transaction: whole-table UPDATEs in one transaction
    deadlock against the server's own writes (a grant and its refresh token), which PostgreSQL then
    resolves by failing one side — retried here, the server's side is retried by group commit."""
    for table, cols in AGED.items():
        sets = ", ".join(f"{c} = {c} - {AGE}" for c in cols)
        for attempt in range(5):
            try:
                async with engine.begin() as conn:
                    await conn.execute(text(f"UPDATE {table} SET {sets}"))  # noqa: S608 - this module's names only
                break
            except DBAPIError as exc:
                cause = getattr(exc.orig, "__cause__", None)
                code = getattr(exc.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
                if attempt == 4 or code not in ("40P01", "40001"):
                    raise
                await asyncio.sleep(0.05)


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


async def _logins(url: str, rp: str, stop: float, done: dict[str, int]) -> None:
    """People signing in (a session, a code redeemed) and strangers failing to (throttle rows); each costs
    the production password hash, so this runs beside the token load at a few per second at most."""
    while time.monotonic() < stop:
        verifier, challenge = pkce_pair()
        async with httpx.AsyncClient(base_url=url, timeout=10) as browser:
            r = await browser.get("/authorize", params=authorize_params(rp, challenge, redirect_uri=REDIRECT))
            page = await browser.get(r.headers["location"])
            if page.status_code == 400 and "has expired" in page.text:
                continue  # the interaction was aged two days between /authorize and its page
            action, fields = form_of(page.text)
            r = await browser.post(action, data={**fields, "username": f"x{done['logins']}@example.test",
                                                 "password": "wrong"})
            if r.status_code == 400 and "has expired" in r.text:
                continue  # the interaction was aged two days between the two pages
            assert r.status_code == 401, r.text  # the form again, with the one message
            action, fields = form_of(r.text)
            r = await browser.post(action, data={**fields, "username": "soak@example.test", "password": PASSWORD})
            done["logins"] += 1
            if r.status_code == 400 and "has expired" in r.text:
                continue  # the interaction was aged two days between the two pages
            assert r.status_code == 303, r.text
            code = httpx.URL(r.headers["location"]).params["code"]
            r = await browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT, "client_id": rp,
                                                   "code_verifier": verifier})
            assert r.status_code in (200, 400), r.text  # 400: aged between the two requests


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_tables_stay_flat_under_steady_load(kind: str, tmp_path: Path) -> None:
    async with database(kind, tmp_path, "purge_soak") as db:
        server = start_server(db, tmp_path, env_extra={
            "KEYTURN_PURGE_INTERVAL": "1", "KEYTURN_PURGE_GRACE": "0", "KEYTURN_ACCESS_TOKEN_TTL": "60",
            "KEYTURN_USER_REFRESH_TTL": "86400",  # a person's family: one day, so two days' ageing ends it
            "KEYTURN_AUDIT_RETENTION": "86400"})
        engine = make_engine(db, pool_size=1)
        try:
            owner = server.cli("users", "create", "--email", "soak@example.test", "--password", PASSWORD)
            cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "soak", "--scope", "a",
                              "--refresh", "1d")["data"]
            rp = server.cli("clients", "create", "--name", "soak", "--public", "--first-party",
                            "--redirect-uri", REDIRECT)["client_id"]
            done = {"families": 0, "requests": 0, "logins": 0}
            start = await _sizes(engine)
            stop = time.monotonic() + LOAD_SECONDS
            load = asyncio.gather(*(_load(server.url, (cred["username"], cred["password"]), rp, stop, done)
                                    for _ in range(4)), _logins(server.url, rp, stop, done))
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
            figures = (f"[{kind}] {done['requests']} requests, {done['families']} families, {done['logins']} logins "
                       f"in {LOAD_SECONDS:.0f} s; "
                       f"sizes at start {start}; every {AGE_EVERY:.0f} s: "
                       + "; ".join("/".join(str(s[t]) for t in AGED) for s in samples)
                       + f" ({'/'.join(AGED)}); after: {end}")
            print(figures)
            assert done["families"] > 20 and done["logins"] >= 2, figures
            assert end == dict.fromkeys(AGED, 0), figures
            # Flat: the last samples are no bigger than the early ones (each holds about one period's rows).
            early = max(s["grants"] for s in samples[:2])
            assert all(s["grants"] <= 2 * early for s in samples[2:]), figures
            assert done["families"] > 2 * max(s["grants"] for s in samples), figures
            assert "purged " in server.log()
        finally:
            await engine.dispose()
            server.stop()
