"""Helpers for the access-model tests: accounts and API keys through the same use cases as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from keyturn.services import accounts as accounts_service
from keyturn.services import api_keys as api_keys_service
from keyturn.services.context import Services
from keyturn.wire.accounts import AccountOut
from keyturn.wire.common import plain


@pytest.fixture
def make_org(ctx: Services) -> Callable[..., Awaitable[dict[str, Any]]]:
    """An org account owned by ``owner``, as the API answers it (a dict of keyturn.wire.accounts.AccountOut)."""

    async def make(owner: Any, name: str = "Acme Ltd", **kw: Any) -> dict[str, Any]:
        account = await accounts_service.create_account(
            ctx, None, name=name, type="org", owner_id=owner.id, **kw
        )
        return dict(plain(AccountOut.of(account)))

    return make


@pytest.fixture
def make_key(ctx: Services) -> Callable[..., Awaitable[str]]:
    async def make(account_id: str, role: str = "merchant-terminal", name: str | None = None) -> str:
        import uuid

        issued = await api_keys_service.create(ctx, None, account_id, name or f"k-{uuid.uuid4().hex[:8]}", role)
        return str(issued.secret)

    return make


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real `keyturn serve` per test module (and database), for outside clients like curl."""
    yield from _live(
        request.param, tmp_path_factory.mktemp("live"), getattr(request.module, "SERVER_ENV", {})
    )


@pytest.fixture(scope="module")
def sqlite_live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from _live("sqlite", tmp_path_factory.mktemp("live"), getattr(request.module, "SERVER_ENV", {}))


def _live(db: str, workdir: Any, env: dict[str, str]) -> Any:
    import asyncio
    import uuid

    from tests.conftest import PG_BASE, _pg_schema, require_service
    from tests.server import start_server

    schema = None
    if db == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir}/live.db"
    else:
        require_service("PostgreSQL", "127.0.0.1", 5432)
        schema = "acc_" + uuid.uuid4().hex[:12]
        asyncio.run(_pg_schema(True, schema))
        url = f"{PG_BASE}?schema={schema}"
    server = start_server(url, workdir, env_extra=env)
    try:
        yield server
    finally:
        server.stop()
        if schema:
            asyncio.run(_pg_schema(False, schema))


def curl(*args: str) -> tuple[int, Any, str]:
    """curl as an outside client: returns (status, parsed JSON body or None, raw headers)."""
    import json
    import subprocess

    res = subprocess.run(
        ["curl", "-s", "-S", "-D", "-", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    head, _, body = res.stdout.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split()[1])
    try:
        parsed = json.loads(body) if body.strip() else None
    except ValueError:
        parsed = body
    return status, parsed, head


def cli(server: Any, *args: str, check: bool = True) -> Any:
    """Run a keyturn CLI command in process against a live server's database (fast; same code as the binary)."""
    import json

    from typer.testing import CliRunner

    from keyturn.cli.main import app

    env = {k: v for k, v in server.env.items() if k.startswith("KEYTURN_")}
    res = CliRunner().invoke(app, [*args, "--json"], env=env, catch_exceptions=False)
    if check and res.exit_code != 0:
        raise AssertionError(f"keyturn {' '.join(args)} failed: {res.output}")
    return json.loads(res.stdout) if res.stdout.strip() else None
