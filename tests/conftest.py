"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL (127.0.0.1:5432, database ``test``) is required when ``CI=true`` and
skipped with a message otherwise. Each PostgreSQL test gets its own schema.

Each test's database starts at the migrations' head without migrating (Alembic's upgrade was most of a
test's set-up): a SQLite test gets a copy of one file migrated once per session; a PostgreSQL test gets a
fresh schema into which the statements Alembic sent to an empty schema, recorded once per session, are
replayed in one round trip (made while the previous test runs, dropped in the background after the test;
never shared). A test marked ``empty_database`` (every tests/unit/storage/test_migration_*.py) gets an empty
file or schema. The app's start still runs ``migrate``: at head, it reads no migration script.

In-process keyrings draw their signing keys from keys generated once per session (RSA generation and
loading were most of the rest); a test marked ``real_key_generation`` generates its own, as live servers do.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from keyturn.core import jose
from keyturn.core.models import Principal
from keyturn.services import credentials as credentials_service
from keyturn.services.context import Services, build_services
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.services.users import create_user
from keyturn.settings import Settings
from keyturn.web.app import create_app, front
from keyturn.wire.common import plain
from keyturn.wire.credentials import CredentialOut
from tests.pgcluster import pg_cluster  # noqa: F401 - the fault tests' throwaway PostgreSQL (a fixture)

ISSUER = "http://keyturn.test"
PG_BASE = os.environ.get("KEYTURN_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if not _port_open(host, port):
        if IN_CI:
            pytest.fail(f"{name} at {host}:{port} is required in CI but is unreachable")
        pytest.skip(f"{name} at {host}:{port} is not reachable; skipping (required when CI=true)")


class Clock:
    """A controllable clock: tests pin and advance time instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        import time
        self.now = start if start is not None else time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _pg_schema(create: bool, schema: str, statements: str = "") -> None:
    """Create ``schema`` (then run ``statements`` in it, in the same transaction), or drop it."""
    import asyncpg
    dsn = PG_BASE.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        if not create:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            return
        async with conn.transaction():  # one round trip: a simple query may hold many statements
            await conn.execute(f'CREATE SCHEMA "{schema}"; SET LOCAL search_path TO "{schema}";\n{statements}')
    finally:
        await conn.close()


# The per-test schemas of this suite: kt_<creation time>_<random>. One older than STALE_SCHEMA_SECONDS is a
# killed run's (a test drops its own): the first test of a session drops those, whoever made them.
_PG_SCHEMA = re.compile(r"kt_(\d+)_[0-9a-f]{8}")
STALE_SCHEMA_SECONDS = 3 * 3600


def _pg_schema_name() -> str:
    return f"kt_{int(time.time())}_{uuid.uuid4().hex[:8]}"


async def _pg_drop_stale_schemas() -> None:
    import asyncpg
    conn = await asyncpg.connect(PG_BASE.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        names = [r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kt\\_%'")]
        for name in names:
            match = _PG_SCHEMA.fullmatch(name)
            if match and int(match.group(1)) < time.time() - STALE_SCHEMA_SECONDS:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def _pg_fingerprint(schema: str) -> list[Any]:
    """What a schema holds (columns, constraints, indexes, Alembic's version), its name left out."""
    import asyncpg
    conn = await asyncpg.connect(PG_BASE.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = [*await conn.fetch(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default, character_maximum_length"
                    " FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2", schema),
                *await conn.fetch(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE connamespace = $1::regnamespace ORDER BY 1, 2", schema),
                *await conn.fetch("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1"
                                  " ORDER BY 1, 2", schema),
                *await conn.fetch(f'SELECT version_num FROM "{schema}".alembic_version')]
    finally:
        await conn.close()
    return [tuple(str(v).replace(f"{schema}.", "").replace(f'"{schema}".', "") for v in r) for r in rows]


_PG_TEMPLATE: list[str | None] = []


class _SchemaFactory:
    """Makes the next test's schema (from the recorded template) while a test runs, and drops a finished
    test's, each in a thread of its own: PostgreSQL's work overlaps the test's instead of adding to it. Each
    schema still serves one test only."""

    def __init__(self, statements: str) -> None:
        self._statements = statements
        self._makes = ThreadPoolExecutor(1, thread_name_prefix="keyturn-test-schema-make")
        self._drops = ThreadPoolExecutor(1, thread_name_prefix="keyturn-test-schema-drop")
        self._next: Future[str] | None = None

    def take(self) -> Future[str]:
        """A fresh schema's name (made now if none is ready); the one after it is started."""
        ready = self._next or self._makes.submit(self._make)
        self._next = self._makes.submit(self._make)
        return ready

    def drop(self, schema: str) -> None:
        self._drops.submit(lambda: asyncio.run(_pg_schema(False, schema)))

    def close(self) -> None:
        self._makes.shutdown(wait=True)
        if self._next is not None and self._next.exception() is None:
            self.drop(self._next.result())
        self._drops.shutdown(wait=True)

    def _make(self) -> str:
        schema = _pg_schema_name()
        asyncio.run(_pg_schema(True, schema, self._statements))
        return schema


_PG_SCHEMAS: list[_SchemaFactory] = []


async def _pg_template() -> str | None:
    """The statements Alembic's upgrade sends to an empty PostgreSQL schema, recorded once per session.

    Replayed into a new schema they make the same schema as the upgrade (checked once here: the catalog of a
    replayed schema against the migrated one's) in one round trip instead of Alembic's dozens. None when they
    cannot be replayed as recorded (a statement with bound parameters, or a different result): each test
    migrates then. The SELECTs (Alembic asking whether its version table exists) are left out."""
    if not _PG_TEMPLATE:
        from sqlalchemy import event

        from keyturn.storage.db import make_engine, migrate
        await _pg_drop_stale_schemas()
        migrated, replayed = _pg_schema_name(), _pg_schema_name()
        sent: list[tuple[str, Any]] = []
        await _pg_schema(True, migrated)
        engine = make_engine(f"{PG_BASE}?schema={migrated}", pool_size=1)
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: sent.append((a[2], a[3])))
        try:
            await migrate(engine)
            writes = [(sql, params) for sql, params in sent if not sql.lstrip().upper().startswith("SELECT")]
            script = None if any(params for _, params in writes) else ";\n".join(sql for sql, _ in writes)
            if script is not None:
                await _pg_schema(True, replayed, script)
                if await _pg_fingerprint(replayed) != await _pg_fingerprint(migrated):
                    script = None
        finally:
            await engine.dispose()
            await _pg_schema(False, replayed)
            await _pg_schema(False, migrated)
        _PG_TEMPLATE.append(script)
    return _PG_TEMPLATE[0]


_SQLITE_TEMPLATE: list[Any] = []


async def _sqlite_template(factory: pytest.TempPathFactory) -> Any:
    """A SQLite database file at the migrations' head, made once per session."""
    if not _SQLITE_TEMPLATE:
        from keyturn.storage.db import make_engine, migrate
        path = factory.mktemp("template") / "keyturn.db"
        engine = make_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


# The modules that take longest (live servers, fault runs, browsers, the OpenAPI fuzz) are collected first: under
# `make test` (pytest-xdist, --dist loadfile --no-loadscope-reorder) each process takes the next module in
# collection order, so a long one never starts when the others are done.
LONG_FIRST_DIRS = ("faults", "interop", "browser")
LONG_FIRST_MODULES = ("test_openapi_fuzz.py", "test_policy_centrapay_2026.py", "test_fapi2_conformance.py")
LONG_MARKERS = ("server", "browser", "faults")


def _starts_late(item: pytest.Item) -> bool:
    return not (item.path.parent.name in LONG_FIRST_DIRS or item.path.name in LONG_FIRST_MODULES
                or any(item.get_closest_marker(m) is not None for m in LONG_MARKERS))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadfile``: a module is one unit of work, except the LONG_FIRST_MODULES, whose tests are
    spread one by one (none of them has a module-wide fixture; the fuzz's two tests take 50-90 s each)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):  # type: ignore[misc]  # (xdist publishes no types)
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module.rsplit("/", 1)[-1] in LONG_FIRST_MODULES else module

    return Scheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # a migration's test starts from an empty database
        if item.path.name.startswith("test_migration_"):
            item.add_marker(pytest.mark.empty_database)
    late = {item.path for item in items if _starts_late(item)}  # by module: a module's tests stay together
    items.sort(key=lambda item: item.path in late)  # stable: the order inside each part is kept


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if request.param == "sqlite":
        if request.node.get_closest_marker("empty_database") is None:
            template = await _sqlite_template(tmp_path_factory)
            for suffix in ("", "-wal"):
                if template.with_name(template.name + suffix).exists():
                    shutil.copyfile(template.with_name(template.name + suffix), tmp_path / f"keyturn.db{suffix}")
        yield f"sqlite+aiosqlite:///{tmp_path}/keyturn.db"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    template = None if request.node.get_closest_marker("empty_database") else await _pg_template()
    if template is None:
        schema = _pg_schema_name()
        await _pg_schema(True, schema)
        try:
            yield f"{PG_BASE}?schema={schema}"
        finally:
            await _pg_schema(False, schema)
        return
    if not _PG_SCHEMAS:
        _PG_SCHEMAS.append(_SchemaFactory(template))
    schema = await asyncio.wrap_future(_PG_SCHEMAS[0].take())
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        _PG_SCHEMAS[0].drop(schema)


@pytest.fixture(scope="session", autouse=True)
def _pg_schemas_dropped() -> Iterator[None]:
    """At the session's end: the schema made ahead for a next test, and every finished test's, are dropped."""
    yield
    while _PG_SCHEMAS:
        _PG_SCHEMAS.pop().close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with its production cost takes ~0.6 s here; in-process tests use a cheap profile
    (same algorithm and code path). Live servers (tests/server.py) keep the production cost."""
    from argon2 import PasswordHasher

    from keyturn.services import passwords
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


_SIGNING_KEYS: dict[str, list[jose.PrivateKey]] = {}  # per algorithm, generated as tests first need them
_LOADED_KEYS: dict[tuple[str, bytes | None], jose.PrivateKey] = {}


@pytest.fixture(autouse=True)
def _signing_keys_once_per_session(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every in-process start generated its RSA key (≈ 60 ms here) and parsed it back (≈ 40 ms: the key's
    validation). Here a test's n-th key of an algorithm is the session's n-th, generated once (a test's keys
    stay distinct: rotations and other workers' keys work as served), and a PEM already parsed is not parsed
    again (keys are immutable). Live servers (other processes) and tests marked ``real_key_generation``
    generate and parse their own."""
    if request.node.get_closest_marker("real_key_generation") is not None:
        return
    from keyturn.services import keyring
    drawn: dict[str, int] = {}

    def generate(alg: str) -> jose.PrivateKey:
        n = drawn[alg] = drawn.get(alg, -1) + 1
        keys = _SIGNING_KEYS.setdefault(alg, [])
        while len(keys) <= n:
            keys.append(jose.generate_private_key(alg))
        return keys[n]

    def load(pem: str, password: bytes | None = None) -> jose.PrivateKey:
        if (pem, password) not in _LOADED_KEYS:
            _LOADED_KEYS[pem, password] = jose.load_private_pem(pem, password)
        return _LOADED_KEYS[pem, password]

    monkeypatch.setattr(keyring, "generate_private_key", generate)
    monkeypatch.setattr(keyring, "load_private_pem", load)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {"environment": "development", "issuer": ISSUER, "database_url": database_url,
                              "database_pool_size": 5, "client_cache_ttl": 0.0,
                              "access_log": False,  # in-process apps; live servers keep it (tests/server.py)
                              # through the shedding layer as served, never shed: tests send many requests at
                              # once (tests/web/test_front_layers.py tests the limit)
                              "max_in_flight": 1024,
                              "allowed_scopes": ("payments:read", "payments:write")}  # make_credential's
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
async def fastapi_app_and_ctx(settings: Settings, clock: Clock) -> AsyncIterator[tuple[FastAPI, Services]]:
    """The bare FastAPI application (no front), started; for tests comparing it with the front."""
    ctx = build_services(settings, clock=clock)
    app = create_app(ctx, run_migrations=True)
    async with app.router.lifespan_context(app):
        yield app, ctx


@pytest.fixture
def app_and_ctx(fastapi_app_and_ctx: tuple[FastAPI, Services], settings: Settings) -> tuple[Any, Services]:
    """What `keyturn serve` runs (`create_asgi` is `front(create_app(...))`: web/fastpath.py's lean
    front around the app), on a controllable clock; the access log is a setting, off in-process."""
    app, ctx = fastapi_app_and_ctx
    return front(app, settings), ctx


@pytest.fixture
def ctx(app_and_ctx: tuple[Any, Services]) -> Services:
    return app_and_ctx[1]


@pytest.fixture
async def client(app_and_ctx: tuple[Any, Services]) -> AsyncIterator[httpx.AsyncClient]:
    """httpx against the served front (test what production serves)."""
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


@pytest.fixture
def front_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same as `client` (which now goes through the front); kept for the tests that name it."""
    return client


@pytest.fixture
async def app_client(fastapi_app_and_ctx: tuple[FastAPI, Services]) -> AsyncIterator[httpx.AsyncClient]:
    """The bare FastAPI app without the front, on the same context: only to check the two agree."""
    transport = httpx.ASGITransport(app=fastapi_app_and_ctx[0], client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


@dataclass
class UserFixture:
    id: str
    email: str
    password: str
    account_id: str
    token: str

    @property
    def principal(self) -> Principal:
        return Principal(kind="user", id=self.id)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_user(ctx: Services) -> Callable[..., Awaitable[UserFixture]]:
    async def make(email: str | None = None, password: str = "correct horse battery staple",
                   **kw: Any) -> UserFixture:
        email = email or f"u{uuid.uuid4().hex[:10]}@example.test"
        user, account_id = await create_user(ctx, email=email, phone_number=kw.pop("phone_number", None),
                                             password=password, **kw)
        token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="", kind="user",
                                     now=ctx.clock())
        return UserFixture(user.id, email, password, account_id, token)
    return make


@dataclass
class CredentialFixture:
    client_id: str
    client_secret: str
    data: dict[str, Any]

    @property
    def basic(self) -> tuple[str, str]:
        return (self.client_id, self.client_secret)


@pytest.fixture
def make_credential(ctx: Services, make_user: Callable[..., Awaitable[UserFixture]]
                    ) -> Callable[..., Awaitable[CredentialFixture]]:
    default_owner: list[UserFixture] = []

    async def make(owner: UserFixture | None = None, **body: Any) -> CredentialFixture:
        if owner is None:  # one default owner per test (a user costs an argon2id hash)
            if not default_owner:
                default_owner.append(await make_user())
            owner = default_owner[0]
        body.setdefault("name", "my.app.cu")
        body.setdefault("scope", "payments:read payments:write")
        issued = await credentials_service.create(ctx, owner.principal, body)
        assert issued.secret is not None
        return CredentialFixture(issued.record.client_id, issued.secret,
                                 plain(CredentialOut.of(issued.record, issued.secret)))
    return make




from tests.jwks_server import jwks_server  # noqa: E402,F401  (fixture re-export: a client's https jwks_uri)
from tests.server import live_server  # noqa: E402,F401  (fixture re-export)
