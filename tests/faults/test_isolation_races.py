"""F01/F02 under every isolation level PostgreSQL offers (issue 12 item 3, REQUIREMENTS F01, F02, F13).

Operators may set ``ALTER DATABASE x SET default_transaction_isolation = …``. Each test here makes its own
database on the shared server with that default, runs three "nodes" on it (three ``Services``, each with its
own engine, pool and group commit, served by the same front ``keyturn serve`` runs), and races one
authorization code (F01) or one refresh token (F02) from all of them at once: exactly one 200, the rest
``400 invalid_grant``, zero 5xx, and the family revoked.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import TemporarilyUnavailable
from keyturn.core.models import Principal
from keyturn.metrics import REPLAYS_DETECTED
from keyturn.services import context, writes
from keyturn.services import credentials as credentials_service
from keyturn.services.context import Services, build_services
from keyturn.services.users import create_user
from keyturn.settings import Settings
from keyturn.web.app import create_app, front
from tests.conftest import ISSUER, PG_BASE, require_service
from tests.oidc.helpers import authorize_code, exchange, make_client

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

LEVELS = ["read committed", "repeatable read", "serializable"]
NODES = int(os.environ.get("KEYTURN_RACE_NODES", "3"))
RACERS = int(os.environ.get("KEYTURN_RACE_RACERS", "20"))  # requests per race, spread over the nodes
ROUNDS = int(os.environ.get("KEYTURN_RACE_ROUNDS", "5"))  # races per test (REQUIREMENTS §7 asks 50 per PR run)
PASSWORD = "correct horse battery staple"


async def _admin(sql: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(PG_BASE.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def database(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A database of its own whose default isolation is ``request.param``; dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"keyturn_races_{request.param.replace(' ', '_')}_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    await _admin(f"ALTER DATABASE \"{name}\" SET default_transaction_isolation = '{request.param}'")
    try:
        yield PG_BASE.rsplit("/", 1)[0] + "/" + name
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Nodes:
    def __init__(self, ctxs: list[Services], clients: list[httpx.AsyncClient]) -> None:
        self.ctxs, self.clients = ctxs, clients

    async def race(self, send: Any) -> list[httpx.Response]:
        """``send(client)`` RACERS times at once, round-robin over the nodes."""
        gate = asyncio.Event()

        async def one(i: int) -> httpx.Response:
            await gate.wait()
            return await send(self.clients[i % NODES])  # type: ignore[no-any-return]

        tasks = [asyncio.ensure_future(one(i)) for i in range(RACERS)]
        await asyncio.sleep(0.01)
        gate.set()
        return list(await asyncio.gather(*tasks))


@pytest.fixture(params=[64, 1], ids=["batched", "unbatched"])
def write_batch(request: pytest.FixtureRequest) -> int:
    """64: group commit as configured by default; 1: every request its own transaction (the most conflicts at
    the database, as with many workers each at low load)."""
    return int(request.param)


@pytest.fixture(params=[True])
def pinned(request: pytest.FixtureRequest) -> bool:
    """Whether the nodes pin their sessions at READ COMMITTED (as build_services does); False only to test
    the retries alone."""
    return bool(request.param)


@pytest.fixture(params=[0])
def grace(request: pytest.FixtureRequest) -> int:
    """KEYTURN_REFRESH_REUSE_GRACE of the nodes: 0 (strict rotation, the default) unless a test asks."""
    return int(request.param)


@pytest.fixture
async def nodes(database: str, write_batch: int, pinned: bool, grace: int, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[Nodes]:
    if not pinned:
        monkeypatch.setattr(context, "pin_read_committed", lambda engine: None)
    async with AsyncExitStack() as stack:
        ctxs: list[Services] = []
        clients: list[httpx.AsyncClient] = []
        for n in range(NODES):
            settings = Settings(environment="development", issuer=ISSUER, database_url=database,
                                database_pool_size=8, client_cache_ttl=0.0, access_log=False, write_batch=write_batch,
                                allowed_scopes=("payments:read", "payments:write"), refresh_reuse_grace=grace)
            ctx = build_services(settings)
            app = create_app(ctx, run_migrations=n == 0)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=front(app, settings), client=("127.0.0.1", 50000 + n))
            clients.append(await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=ISSUER)))
            ctxs.append(ctx)
        yield Nodes(ctxs, clients)


def _tally(answers: Sequence[httpx.Response]) -> Counter[int]:
    assert all(r.status_code == 200 or r.json()["error"] == "invalid_grant" for r in answers), \
        [(r.status_code, r.text) for r in answers if r.status_code != 200]
    return Counter(r.status_code for r in answers)


async def _active(client: httpx.AsyncClient, token: str, basic: tuple[str, str] | None = None,
                  client_id: str | None = None) -> bool:
    data = {"token": token} | ({"client_id": client_id} if client_id else {})
    r = await client.post("/introspect", data=data, auth=basic) if basic else await client.post("/introspect",
                                                                                                data=data)
    assert r.status_code == 200, r.text
    return bool(r.json()["active"])


def _level(nodes: Nodes) -> str:
    return str(nodes.ctxs[0].settings.database_url).rsplit("/", 1)[1]


def _retries(nodes: Nodes) -> int:
    return sum(c.writes.stats.retries for c in nodes.ctxs)


def _replays(kind: str) -> float:
    return float(REPLAYS_DETECTED.labels(kind)._value.get())  # noqa: SLF001 - the test reads the counter


async def race_refresh_token(nodes: Nodes) -> Counter[int]:
    """F02: per round, one refresh token sent RACERS times at once over the nodes."""
    ctx = nodes.ctxs[0]
    user, _ = await create_user(ctx, email=f"u{uuid.uuid4().hex[:8]}@example.test", phone_number=None,
                                password=PASSWORD)
    cred = await credentials_service.create(ctx, Principal(kind="user", id=user.id),
                                            {"name": "my.app.cu", "scope": "payments:read", "refresh": "1d"})
    assert cred.secret is not None
    basic = (cred.record.client_id, cred.secret)
    totals: Counter[int] = Counter()
    before = _replays("refresh_token")
    for _ in range(ROUNDS):
        first = (await nodes.clients[0].post("/token", data={"grant_type": "client_credentials"}, auth=basic)).json()
        data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        answers = await nodes.race(lambda c, data=data: c.post("/token", data=data, auth=basic))
        tally = _tally(answers)
        assert tally[200] == 1, tally
        totals += tally
        winner = next(r.json() for r in answers if r.status_code == 200)
        # Concurrency counts as reuse (REQUIREMENTS §8 D1, strict): the family is revoked on every node.
        again = await nodes.clients[1].post("/token", data={**data, "refresh_token": winner["refresh_token"]},
                                            auth=basic)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
        assert not await _active(nodes.clients[2], winner["refresh_token"], basic)
    assert totals == {200: ROUNDS, 400: ROUNDS * (RACERS - 1)}
    assert _replays("refresh_token") - before >= ROUNDS * (RACERS - 1)  # every loser counted (this process)
    return totals


async def race_code(nodes: Nodes) -> Counter[int]:
    """F01: per round, one authorization code redeemed RACERS times at once over the nodes."""
    ctx = nodes.ctxs[0]
    user = SimpleNamespace(email=f"u{uuid.uuid4().hex[:8]}@example.test", password=PASSWORD)
    await create_user(ctx, email=user.email, phone_number=None, password=PASSWORD)
    rp = await make_client(ctx)
    totals: Counter[int] = Counter()
    before = _replays("authorization_code")
    for _ in range(ROUNDS):
        code, verifier, _q = await authorize_code(nodes.clients[0], rp["client_id"], user)
        answers = await nodes.race(lambda c, code=code, verifier=verifier: exchange(c, rp["client_id"], code,
                                                                                    verifier))
        tally = _tally(answers)
        assert tally[200] == 1, tally
        totals += tally
        winner = next(r.json() for r in answers if r.status_code == 200)
        # The replays revoked the grant the winner got (OAuth 2.1 §4.1.3): its refresh token is dead everywhere.
        r = await nodes.clients[2].post("/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                                        "refresh_token": winner["refresh_token"]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert totals == {200: ROUNDS, 400: ROUNDS * (RACERS - 1)}
    assert _replays("authorization_code") - before >= ROUNDS * (RACERS - 1)
    return totals


@pytest.mark.parametrize("database", LEVELS, indirect=True)
async def test_f02_one_refresh_token_raced_over_three_nodes(nodes: Nodes, write_batch: int) -> None:
    totals = await race_refresh_token(nodes)
    print(f"\nF02 {_level(nodes)} write_batch={write_batch}: {dict(totals)} retries={_retries(nodes)}")
    assert _retries(nodes) == 0  # pinned at READ COMMITTED: the losers wait for the row, nothing conflicts


async def race_refresh_token_in_grace(nodes: Nodes) -> None:
    """F02 with the grace window on (docs/client-authentication.md): per round, one refresh token sent RACERS
    times at once over the nodes; every answer is 200 with the identical successor and access token (I1), no
    replay is detected, and the family lives on: the successor refreshes on another node."""
    ctx = nodes.ctxs[0]
    user, _ = await create_user(ctx, email=f"u{uuid.uuid4().hex[:8]}@example.test", phone_number=None,
                                password=PASSWORD)
    cred = await credentials_service.create(ctx, Principal(kind="user", id=user.id),
                                            {"name": "my.app.cu", "scope": "payments:read", "refresh": "1d"})
    assert cred.secret is not None
    basic = (cred.record.client_id, cred.secret)
    before = _replays("refresh_token")
    rt = (await nodes.clients[0].post("/token", data={"grant_type": "client_credentials"}, auth=basic)).json()[
        "refresh_token"]
    for _ in range(ROUNDS):
        data = {"grant_type": "refresh_token", "refresh_token": rt}
        answers = await nodes.race(lambda c, data=data: c.post("/token", data=data, auth=basic))
        assert _tally(answers) == {200: RACERS}
        assert {(r.json()["refresh_token"], r.json()["access_token"]) for r in answers} == {
            (answers[0].json()["refresh_token"], answers[0].json()["access_token"])}
        assert all(r.headers["cache-control"] == "no-store" for r in answers)
        rt = answers[0].json()["refresh_token"]
        assert await _active(nodes.clients[2], rt, basic)
    assert _replays("refresh_token") == before
    last = await nodes.clients[1].post("/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                                       auth=basic)
    assert last.status_code == 200, last.text


@pytest.mark.parametrize("database", LEVELS, indirect=True)
@pytest.mark.parametrize("grace", [30], indirect=True)
async def test_f02_in_the_grace_window_every_racer_gets_the_identical_successor(nodes: Nodes,
                                                                               write_batch: int) -> None:
    await race_refresh_token_in_grace(nodes)
    print(f"\nF02 grace {_level(nodes)} write_batch={write_batch}: retries={_retries(nodes)}")
    assert _retries(nodes) == 0  # pinned: a loser waits for the row, then reads the winner's sealed answer


@pytest.mark.parametrize("database", ["repeatable read", "serializable"], indirect=True)
@pytest.mark.parametrize("write_batch", [1], indirect=True)
@pytest.mark.parametrize("pinned", [False], indirect=True)
@pytest.mark.parametrize("grace", [30], indirect=True)
async def test_without_the_pin_the_retries_alone_keep_the_grace_window_identical(nodes: Nodes) -> None:
    """A loser's conflict (40001) is retried; the retry finds the token used and its sealed answer."""
    await race_refresh_token_in_grace(nodes)


@pytest.mark.parametrize("database", LEVELS, indirect=True)
async def test_f01_one_code_raced_over_three_nodes(nodes: Nodes, write_batch: int) -> None:
    totals = await race_code(nodes)
    print(f"\nF01 {_level(nodes)} write_batch={write_batch}: {dict(totals)} retries={_retries(nodes)}")
    assert _retries(nodes) == 0


@pytest.mark.parametrize("database", ["repeatable read", "serializable"], indirect=True)
@pytest.mark.parametrize("write_batch", [1], indirect=True)
@pytest.mark.parametrize("pinned", [False], indirect=True)
async def test_without_the_pin_the_retries_alone_keep_f01_f02(nodes: Nodes) -> None:
    """The second line: sessions left at the database's default conflict (SQLSTATE 40001), and group commit's
    retries still give one 200, the rest invalid_grant, the family revoked, zero 5xx."""
    f02, f01 = await race_refresh_token(nodes), await race_code(nodes)
    print(f"\nunpinned {_level(nodes)}: F02 {dict(f02)} F01 {dict(f01)} retries={_retries(nodes)}")


@pytest.mark.parametrize("database", ["serializable"], indirect=True)
@pytest.mark.parametrize("write_batch", [64], indirect=True)
async def test_sessions_are_pinned_at_read_committed(nodes: Nodes) -> None:
    ctx = nodes.ctxs[0]
    async with ctx.engine.begin() as conn:
        assert (await conn.execute(text("SHOW transaction_isolation"))).scalar_one() == "read committed"
    async with ctx.engine.connect() as raw:  # autocommit (group commit's one-statement batches) and after it
        auto = await raw.execution_options(isolation_level="AUTOCOMMIT")
        assert (await auto.execute(text("SHOW transaction_isolation"))).scalar_one() == "read committed"
    async with ctx.engine.begin() as conn:
        assert (await conn.execute(text("SHOW transaction_isolation"))).scalar_one() == "read committed"


_CONFLICT = "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = :code; END $$"


def _conflicting(fails: int | None, code: str = "serialization_failure") -> tuple[list[int], Any]:
    """A batch function that hits a real PostgreSQL error of class 40 on its first ``fails`` attempts (None:
    on every attempt)."""
    attempts: list[int] = []

    async def apply(conn: AsyncConnection, items: Sequence[int]) -> list[int]:
        attempts.append(len(items))
        if fails is None or len(attempts) <= fails:
            await conn.execute(text(_CONFLICT.replace(":code", f"'{code}'")))
        return [i + 1 for i in items]
    return attempts, apply


@pytest.mark.parametrize("database", ["repeatable read"], indirect=True)
@pytest.mark.parametrize("write_batch", [64], indirect=True)
async def test_serialization_failures_and_deadlocks_are_retried(nodes: Nodes) -> None:
    ctx = nodes.ctxs[0]
    attempts, apply = _conflicting(writes.RETRIES)
    assert await ctx.writes.submit(apply, 41) == 42
    assert len(attempts) == writes.RETRIES + 1
    attempts, apply = _conflicting(2, "deadlock_detected")
    assert await ctx.writes.submit(apply, 1) == 2 and len(attempts) == 3


@pytest.mark.parametrize("database", ["repeatable read"], indirect=True)
@pytest.mark.parametrize("write_batch", [64], indirect=True)
async def test_conflicts_past_the_retries_answer_503_never_500(nodes: Nodes) -> None:
    ctx = nodes.ctxs[0]
    attempts, apply = _conflicting(None)
    results = await asyncio.gather(*(ctx.writes.submit(apply, i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, TemporarilyUnavailable) and r.retry_after == 1 and r.status_code == 503
               for r in results), results
    assert attempts == [3] * (writes.RETRIES + 1)  # one batch, retried, never split into halves
    _, fine = _conflicting(0)
    assert await ctx.writes.submit(fine, 1) == 2  # the next batch is served


_TRIGGER = ("CREATE FUNCTION keyturn_test_conflict() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$",
            "CREATE TRIGGER keyturn_test_conflict BEFORE UPDATE ON refresh_tokens "
            "FOR EACH ROW EXECUTE FUNCTION keyturn_test_conflict()")


@pytest.mark.parametrize("database", ["serializable"], indirect=True)
@pytest.mark.parametrize("write_batch", [64], indirect=True)
async def test_a_refresh_that_keeps_conflicting_answers_503_in_rfc6749_shape(nodes: Nodes) -> None:
    """Every rotation attempt hits a real serialization failure (a trigger): the answer is 503
    temporarily_unavailable with Retry-After: 1, and nothing was written, so the token still works after."""
    ctx, client = nodes.ctxs[0], nodes.clients[0]
    user, _ = await create_user(ctx, email="c@example.test", phone_number=None, password=PASSWORD)
    cred = await credentials_service.create(ctx, Principal(kind="user", id=user.id),
                                            {"name": "my.app.cu", "scope": "payments:read", "refresh": "1d"})
    assert cred.secret is not None
    basic = (cred.record.client_id, cred.secret)
    first = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=basic)).json()
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    async with ctx.engine.begin() as conn:
        for statement in _TRIGGER:
            await conn.execute(text(statement))
    r = await client.post("/token", data=data, auth=basic)
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert r.json()["error"] == "temporarily_unavailable" and r.headers["cache-control"] == "no-store"
    async with ctx.engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER keyturn_test_conflict ON refresh_tokens"))
    assert (await client.post("/token", data=data, auth=basic)).status_code == 200
