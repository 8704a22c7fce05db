"""The purge (services/purge.py, storage/purge.py) on SQLite and PostgreSQL: what goes, what stays, by rule."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.services.context import Services
from keyturn.services.oidc import login
from keyturn.services.oidc.flow import INTERACTION_TTL
from keyturn.services.purge import SIGN_IN_WINDOW, TABLES, THROTTLE_WINDOW, Purger
from keyturn.storage import tables as t
from tests.conftest import Clock

GRACE, LEEWAY, TTL, IDLE, RETENTION, REUSE = 100, 10, 60, 3600, 1000, 30


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"purge_grace": GRACE, "clock_leeway": LEEWAY, "access_token_ttl": TTL, "session_idle_ttl": IDLE,
            "audit_retention": RETENTION, "purge_batch": 2, "purge_interval": 0, "refresh_reuse_grace": REUSE}


def test_the_throttle_window_is_logins_longest() -> None:
    assert max(login.ACCOUNT_WINDOW, login.IP_WINDOW) == THROTTLE_WINDOW


def test_a_pushed_request_is_kept_while_a_sign_in_may_spend_it() -> None:
    assert SIGN_IN_WINDOW == INTERACTION_TTL


async def _ids(ctx: Services, table: Any, key: Any) -> set[str]:
    async with ctx.engine.connect() as conn:
        return {str(v) for v in (await conn.execute(select(key))).scalars()}


def _purged(table: str) -> float:
    return REGISTRY.get_sample_value("keyturn_rows_purged_total", {"table": table}) or 0.0


async def test_each_table_loses_exactly_its_dead_rows(ctx: Services, clock: Clock, make_user: Any,
                                                      make_credential: Any) -> None:
    user = await make_user()
    cred = await make_credential()
    now = clock.now
    before = {name: _purged(name) for name in TABLES}
    code = {"client_id": cred.client_id, "user_id": user.id, "redirect_uri": "https://a.test/cb", "scope": "",
            "created_at": now - 1000}
    grant = {"client_id": cred.client_id, "grant_type": "refresh_token", "scope": "", "created_at": now - 9000,
             "revoked_at": None}
    async with ctx.engine.begin() as conn:
        await conn.execute(t.authorization_codes.insert(), [
            {**code, "digest": "code-gone", "expires_at": now - GRACE - 1},
            {**code, "digest": "code-kept", "expires_at": now - GRACE + 1}])
        await conn.execute(t.interactions.insert(), [
            {"id": "ia-gone", "client_id": "c", "params": {}, "created_at": now - 999, "expires_at": now - GRACE - 1},
            {"id": "ia-kept", "client_id": "c", "params": {}, "created_at": now - 999, "expires_at": now - GRACE + 1}])
        pushed = {"client_id": cred.client_id, "params": {"state": "s"}, "created_at": now - 999}
        await conn.execute(t.pushed_requests.insert(), [  # RFC 9126 request_uris, used or not
            {**pushed, "digest": "par-gone", "expires_at": now - GRACE - SIGN_IN_WINDOW - 1, "used_at": None},
            {**pushed, "digest": "par-used-gone", "expires_at": now - GRACE - SIGN_IN_WINDOW - 1, "used_at": now - 990},
            {**pushed, "digest": "par-kept", "expires_at": now - GRACE - SIGN_IN_WINDOW + 1, "used_at": None}])
        session = {"user_id": user.id, "auth_time": now - 5000, "created_at": now - 5000, "ended_at": None}
        await conn.execute(t.sessions.insert(), [
            {**session, "digest": "s-expired", "last_seen_at": now, "expires_at": now - GRACE - 1},
            {**session, "digest": "s-ended", "last_seen_at": now, "expires_at": now + 9, "ended_at": now - GRACE - 1},
            {**session, "digest": "s-idle", "last_seen_at": now - IDLE - GRACE - 1, "expires_at": now + 9},
            {**session, "digest": "s-kept", "last_seen_at": now - IDLE - GRACE + 1, "expires_at": now + 9,
             "ended_at": now - GRACE + 1}])
        await conn.execute(t.revoked_tokens.insert(), [
            {"jti": "jti-gone", "expires_at": now - GRACE - LEEWAY - 1},
            {"jti": "jti-kept", "expires_at": now - GRACE - LEEWAY + 1}])  # a verifier's leeway may still take it
        await conn.execute(t.throttles.insert(), [
            {"key": "th-gone", "failures": 9, "window_start": now - THROTTLE_WINDOW - GRACE - 1, "locked_until": None},
            {"key": "th-lock-over", "failures": 9, "window_start": now - THROTTLE_WINDOW - GRACE - 1,
             "locked_until": now - GRACE - 1},
            {"key": "th-locked", "failures": 9, "window_start": now - THROTTLE_WINDOW - GRACE - 1,
             "locked_until": now - GRACE + 1},
            {"key": "th-window", "failures": 9, "window_start": now - THROTTLE_WINDOW - GRACE + 1,
             "locked_until": None}])
        token_gone = now - GRACE - TTL - LEEWAY
        await conn.execute(t.grants.insert(), [
            {**grant, "id": "g-revoked-old", "expires_at": now + 9999, "revoked_at": token_gone - 120 - 1},
            {**grant, "id": "g-revoked-recent", "expires_at": now + 9999, "revoked_at": now - GRACE - 1},
            {**grant, "id": "g-expired-old", "expires_at": token_gone - 1},
            {**grant, "id": "g-expired-recent", "expires_at": now - GRACE + 1},
            {**grant, "id": "g-live", "expires_at": now + 9999}])
        rt = {"scope": "", "issued_at": now - 9000, "expires_at": now + 9999}
        await conn.execute(t.refresh_tokens.insert(), [
            *({**rt, "digest": f"rt-{g}-{i}", "grant_id": g, "generation": i, "used_at": now - 8000 if i < 3 else None}
              for g in ("g-revoked-old", "g-revoked-recent", "g-expired-old", "g-expired-recent", "g-live")
              for i in (1, 2, 3))])
        # sealed answers of rotations (core/reissue.py): erased once their grace window is over, rows kept
        rt_c = t.refresh_tokens.c
        await conn.execute(t.refresh_tokens.update().where(rt_c.digest.in_(["rt-g-live-1", "rt-g-expired-recent-1"]))
                           .values(reissue=b"box-gone", used_at=now - REUSE - 1))
        await conn.execute(t.refresh_tokens.update().where(rt_c.digest == "rt-g-live-2")
                           .values(reissue=b"box-kept", used_at=now - REUSE + 1))
        await conn.execute(t.audit_events.insert(), [
            {"at": now - RETENTION - 1, "event": "audit.gone"}, {"at": now - RETENTION + 1, "event": "audit.kept"}])

    counts = await ctx.purger.run_once()

    assert counts == {"authorization_codes": 1, "interactions": 1, "pushed_requests": 2, "sessions": 3,
                      "revoked_tokens": 1, "throttles": 2, "refresh_reissues": 2, "refresh_tokens": 9, "grants": 2,
                      "audit_events": 1}
    assert {n: _purged(n) - before[n] for n in TABLES} == counts
    assert await _ids(ctx, t.authorization_codes, t.authorization_codes.c.digest) == {"code-kept"}
    assert await _ids(ctx, t.interactions, t.interactions.c.id) == {"ia-kept"}
    assert await _ids(ctx, t.pushed_requests, t.pushed_requests.c.digest) == {"par-kept"}
    assert await _ids(ctx, t.sessions, t.sessions.c.digest) == {"s-kept"}
    assert await _ids(ctx, t.revoked_tokens, t.revoked_tokens.c.jti) == {"jti-kept"}
    assert await _ids(ctx, t.throttles, t.throttles.c.key) == {"th-locked", "th-window"}
    # A dead family's tokens go (spent or not); a live family keeps its spent ones (reuse detection needs them).
    assert await _ids(ctx, t.refresh_tokens, t.refresh_tokens.c.digest) == {
        f"rt-{g}-{i}" for g in ("g-expired-recent", "g-live") for i in (1, 2, 3)}
    async with ctx.engine.connect() as conn:
        boxes = dict((await conn.execute(select(rt_c.digest, rt_c.reissue).where(rt_c.reissue.is_not(None)))).all())
    assert boxes == {"rt-g-live-2": b"box-kept"}
    # A revoked grant stays while an access token naming it may live (the revocation cache still lists it).
    assert await _ids(ctx, t.grants, t.grants.c.id) == {"g-revoked-recent", "g-expired-recent", "g-live"}
    async with ctx.engine.connect() as conn:
        events = set((await conn.execute(select(t.audit_events.c.event))).scalars())
    assert "audit.gone" not in events and "audit.kept" in events

    assert set((await ctx.purger.run_once()).values()) == {0}  # nothing more is due


async def test_audit_events_are_kept_forever_by_default(ctx: Services, clock: Clock) -> None:
    purger = Purger(ctx.engine, ctx.settings.model_copy(update={"audit_retention": 0}), clock)
    async with ctx.engine.begin() as conn:
        await conn.execute(t.audit_events.insert(), [{"at": 1.0, "event": "audit.ancient"}])
    assert (await purger.run_once())["audit_events"] == 0
    async with ctx.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(t.audit_events)
                                   .where(t.audit_events.c.event == "audit.ancient"))).scalar_one() == 1


async def test_the_background_task_purges_and_survives_a_failed_run(ctx: Services, clock: Clock,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    purger = Purger(ctx.engine, ctx.settings.model_copy(update={"purge_interval": 0.02}), clock)
    assert 0.016 <= purger.next_wait() <= 0.024
    real = purger.run_once
    calls = 0

    async def flaky() -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return await real()

    purger.run_once = flaky  # type: ignore[method-assign]
    async with ctx.engine.begin() as conn:
        await conn.execute(t.revoked_tokens.insert(), [{"jti": "bg-gone", "expires_at": clock.now - 9999}])
    with caplog.at_level(logging.INFO, logger="keyturn.purge"):
        purger.start()
        purger.start()  # once is enough
        deadline = time.monotonic() + 30  # a bound for a loaded machine; a quiet one takes ~0.05 s
        while time.monotonic() < deadline:
            if any(r.getMessage().startswith("purged") for r in caplog.records):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a few more runs with nothing to do: they log nothing
        await purger.stop()
        await purger.stop()
    assert not await _ids(ctx, t.revoked_tokens, t.revoked_tokens.c.jti)
    messages = [r.getMessage() for r in caplog.records if r.name == "keyturn.purge"]
    assert any(m.startswith("purge failed, next run in about 0 s: ConnectionError") for m in messages), messages
    assert messages.count("purged revoked_tokens=1") == 1, messages
    assert all(m.startswith(("purge failed", "purged revoked_tokens=1")) for m in messages), messages


async def test_no_background_task_when_the_interval_is_zero(ctx: Services) -> None:
    assert ctx.settings.purge_interval == 0
    ctx.purger.start()
    assert ctx.purger._task is None


def test_keyturn_purge_prints_the_counts(tmp_path: Path) -> None:
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://localhost:8000",
           "KEYTURN_SETTINGS_FILE": "", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"}
    result = CliRunner().invoke(cli_app, ["purge", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == dict.fromkeys(TABLES, 0)
    result = CliRunner().invoke(cli_app, ["purge"], env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{name}: 0" for name in TABLES]


@pytest.mark.parametrize("isolation", ["READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"])
async def test_purges_at_once_share_the_work_and_skip_rows_a_request_holds(ctx: Services, clock: Clock,
                                                                          database_url: str, isolation: str) -> None:
    """PostgreSQL: several workers purging at once (FOR UPDATE SKIP LOCKED) take different rows and never
    wait for each other or for a transaction holding a row, whatever isolation level the database defaults
    to (an operator may set REPEATABLE READ or SERIALIZABLE); SQLite has one writer at a time anyway."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only")
    async with ctx.engine.begin() as conn:
        await conn.execute(t.revoked_tokens.insert(),
                           [{"jti": f"j{i}", "expires_at": clock.now - 9999} for i in range(301)])
    settings = ctx.settings.model_copy(update={"purge_batch": 7})
    default = ctx.engine.execution_options(isolation_level=isolation)  # as if the database's default
    purgers = [Purger(default, settings, clock) for _ in range(3)]
    async with ctx.engine.connect() as holder:
        await holder.execute(select(t.revoked_tokens.c.jti).where(t.revoked_tokens.c.jti == "j0").with_for_update())
        runs = await asyncio.wait_for(asyncio.gather(*(p.run_once() for p in purgers)), timeout=10)
        await holder.rollback()
    assert sum(r["revoked_tokens"] for r in runs) == 300  # each row deleted once; the held one skipped
    assert await _ids(ctx, t.revoked_tokens, t.revoked_tokens.c.jti) == {"j0"}
    assert (await purgers[0].run_once())["revoked_tokens"] == 1  # released: the next run takes it


async def test_after_a_purge_the_protocol_answers_as_before(client: Any, ctx: Services, clock: Clock,
                                                            make_credential: Any) -> None:
    """A purged family's refresh token is an unknown one (invalid_grant, inactive, revocable: 200), never a 500;
    a revoked access token stays refused as long as it could be presented."""
    cred = await make_credential(refresh="1d")
    issued = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    assert (await client.post("/revoke", data={"token": issued["refresh_token"]}, auth=cred.basic)).status_code == 200
    live = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    assert (await client.post("/revoke", data={"token": live["access_token"]}, auth=cred.basic)).status_code == 200
    clock.advance(TTL - 1)  # the revoked access token has not expired: its jti row must stay
    await ctx.purger.run_once()
    r = await client.post("/introspect", data={"token": live["access_token"]}, auth=cred.basic)
    assert r.json() == {"active": False}
    assert await _ids(ctx, t.revoked_tokens, t.revoked_tokens.c.jti)
    clock.advance(GRACE + LEEWAY + 120 + 2)
    counts = await ctx.purger.run_once()
    assert counts["refresh_tokens"] == 1 and counts["grants"] == 1 and counts["revoked_tokens"] == 1, counts
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
                          auth=cred.basic)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    r = await client.post("/introspect", data={"token": issued["refresh_token"]}, auth=cred.basic)
    assert r.json() == {"active": False}
    assert (await client.post("/revoke", data={"token": issued["refresh_token"]}, auth=cred.basic)).status_code == 200
    # The live family is untouched: its refresh token still works.
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": live["refresh_token"]},
                          auth=cred.basic)
    assert r.status_code == 200, r.text
