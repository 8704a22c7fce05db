"""Login throttles a stranger cannot turn into someone else's lockout (issue 12 item 10): counted per
(identifier, address) and per address with growing locks, per identifier only as a small delay; operators
unlock through ``POST /api/v2/users/unlock`` and ``keyturn users unlock``; every lock and unlock is audited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from keyturn.cli.main import app as cli_app
from keyturn.services.context import Services
from keyturn.services.oidc import login as login_service
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.storage.tables import audit_events
from tests.conftest import ISSUER, Clock
from tests.oidc.helpers import authorize_params, form_of, make_client, pkce_pair


@pytest.fixture
async def from_b(app_and_ctx: tuple[Any, Services]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at another address (the `client` fixture is 127.0.0.1)."""
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("10.0.0.2", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


async def _form(client: httpx.AsyncClient, client_id: str) -> tuple[str, dict[str, str]]:
    _, challenge = pkce_pair()
    r = await client.get("/authorize", params=authorize_params(client_id, challenge))
    page = await client.get(r.headers["location"])
    return form_of(page.text)


async def _try(client: httpx.AsyncClient, form: tuple[str, dict[str, str]], username: str,
               password: str) -> httpx.Response:
    action, fields = form
    return await client.post(action, data={**fields, "username": username, "password": password})


async def _events(ctx: Services, kind: str) -> list[Any]:
    async with ctx.engine.connect() as conn:
        return list((await conn.execute(select(audit_events).where(audit_events.c.event == kind)
                                        .order_by(audit_events.c.id))).mappings())


async def test_a_strangers_failures_do_not_lock_the_owner_out_from_elsewhere(client, from_b, ctx, make_user,
                                                                              clock: Clock):
    user = await make_user()
    rp = await make_client(ctx)
    stranger, owner = await _form(client, rp["client_id"]), await _form(from_b, rp["client_id"])
    for _ in range(ctx.settings.login_max_failures - 1):
        assert (await _try(client, stranger, user.email, "wrong password!")).status_code == 401
    for wait in (30, 60, 120):
        r = await _try(client, stranger, user.email, "wrong password!")
        assert r.status_code == 429 and r.headers["retry-after"] == str(wait)  # the stranger's address waits
        clock.advance(wait + 1)
    r = await _try(client, stranger, user.email, "wrong password!")
    assert (await _try(client, stranger, user.email, user.password)).status_code == 429
    r = await _try(from_b, owner, user.email, user.password)
    assert r.status_code == 303, r.text  # the owner, from another address, signs in
    locked = await _events(ctx, "login.locked")
    assert locked and all(e["ip"] == "127.0.0.1" and e["subject"] == user.id for e in locked)
    assert locked[0]["detail"]["scope"] == "identifier+address" and locked[0]["detail"]["seconds"] == 30
    assert [e["detail"]["seconds"] for e in locked] == [30, 60, 120, 240]  # growing


async def test_an_address_spraying_identifiers_is_locked(client, from_b, ctx, make_user, monkeypatch):
    monkeypatch.setattr(login_service, "IP_MAX_FAILURES", 4)
    user = await make_user()
    rp = await make_client(ctx)
    spray = await _form(client, rp["client_id"])
    statuses = [(await _try(client, spray, f"n{i}@example.test", "wrong password!")).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert (await _try(client, spray, user.email, user.password)).status_code == 429  # the address waits
    assert (await _try(from_b, await _form(from_b, rp["client_id"]), user.email, user.password)).status_code == 303
    assert {e["detail"]["scope"] for e in await _events(ctx, "login.locked")} == {"address"}


@pytest.mark.timing  # an answer without a delay is timed (< 0.25 s)
async def test_failures_from_everywhere_only_slow_the_identifier_down(client, ctx, make_user, monkeypatch,
                                                                     app_and_ctx):
    monkeypatch.setattr(login_service, "IDENTIFIER_SLOW_AFTER", 3)
    user = await make_user()
    rp = await make_client(ctx)
    for i in range(4):  # four addresses, one failure each: no pair and no address reaches a lock
        transport = httpx.ASGITransport(app=app_and_ctx[0], client=(f"10.1.0.{i}", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
            assert (await _try(c, await _form(c, rp["client_id"]), user.email, "wrong password!")).status_code == 401
    started = time.perf_counter()
    assert (await _try(client, await _form(client, rp["client_id"]), user.email, user.password)).status_code == 303
    assert time.perf_counter() - started >= 0.5  # a delay (0.25 s doubling, at most 2 s), never a refusal
    assert login_service.identifier_delay(3) == 0.25 and login_service.identifier_delay(100) == 2.0
    assert login_service.identifier_delay(2) == 0.0
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("10.2.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        form = await _form(c, rp["client_id"])
        started = time.perf_counter()  # a success cleared the identifier's count
        assert (await _try(c, form, user.email, "wrong password!")).status_code == 401
        assert time.perf_counter() - started < 0.25


async def test_the_operator_unlocks_through_the_api(client, ctx, make_user, clock: Clock):
    user = await make_user()
    rp = await make_client(ctx)
    form = await _form(client, rp["client_id"])
    for _ in range(ctx.settings.login_max_failures + 1):
        await _try(client, form, user.email, "wrong password!")
    assert (await _try(client, form, user.email, user.password)).status_code == 429
    body = {"identifier": user.email.upper()}  # the identifier as typed: its normal form is what counts
    r = await client.post("/api/v2/users/unlock", json=body, headers=user.headers)
    assert r.status_code == 403  # a user is not the operator
    operator, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                    kind="user", now=ctx.clock())
    r = await client.post("/api/v2/users/unlock", json=body, headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 200 and r.json()["data"]["removed"] >= 2, r.text
    assert (await _try(client, form, user.email, user.password)).status_code == 303
    (unlocked,) = await _events(ctx, "login.unlocked")
    assert unlocked["subject"] == user.id and unlocked["actor"] == f"user:{user.id}"
    r = await client.post("/api/v2/users/unlock", json={"identifier": ""},
                          headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 400


async def test_the_cli_unlocks_an_identifier_and_an_address(client, ctx, make_user, settings, monkeypatch):
    monkeypatch.setattr(login_service, "IP_MAX_FAILURES", 2)
    user = await make_user()
    rp = await make_client(ctx)
    form = await _form(client, rp["client_id"])
    for _ in range(3):
        await _try(client, form, user.email, "wrong password!")
    assert (await _try(client, form, user.email, user.password)).status_code == 429
    for key, value in settings.model_dump(mode="json").items():
        if value is not None:
            monkeypatch.setenv(f"KEYTURN_{key.upper()}", value if isinstance(value, str) else
                               " ".join(value) if isinstance(value, list) else str(value))
    result = await asyncio.to_thread(CliRunner().invoke, cli_app,
                                     ["users", "unlock", user.email, "--address", "127.0.0.1", "--json"])
    assert result.exit_code == 0, result.output
    assert '"removed"' in result.output
    assert (await _try(client, form, user.email, user.password)).status_code == 303
    (unlocked,) = await _events(ctx, "login.unlocked")
    assert unlocked["actor"] == "operator" and unlocked["ip"] == "127.0.0.1"
