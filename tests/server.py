"""A real ``keyturn serve`` process for tests that use outside clients (curl, axios, Authlib, browsers).

Use the ``live_server`` fixture (SQLite and PostgreSQL) or ``start_server(...)`` directly.
Servers bind 127.0.0.1 on a free port and are stopped at the end of the test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

KEYTURN = str(Path(sys.executable).with_name("keyturn"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str, check: bool = True) -> Any:
        """Run a keyturn CLI command against this server's database; parse JSON output."""
        res = subprocess.run([KEYTURN, *args, "--json"], env=self.env, capture_output=True, text=True, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"keyturn {' '.join(args)} failed: {res.stderr}")
        return json.loads(res.stdout) if res.stdout.strip() else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_server(database_url: str, workdir: Path, *, env_extra: dict[str, str] | None = None,
                 workers: int = 1, args: tuple[str, ...] = ()) -> LiveServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env.update({"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": url, "KEYTURN_DATABASE_URL": database_url,
                "KEYTURN_LOG_LEVEL": "INFO"})
    env.update(env_extra or {})
    log_path = workdir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([KEYTURN, "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers), *args], env=env, cwd=workdir, stdout=log,
                                stderr=subprocess.STDOUT)
    server = LiveServer(url, env, proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"keyturn serve exited: {server.log()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"keyturn serve did not start: {server.log()}")


def _pg_schema_sync(create: bool, schema: str) -> None:
    import asyncio

    from tests.conftest import _pg_schema
    asyncio.run(_pg_schema(create, schema))


@contextmanager
def live_database(kind: str, workdir: Path) -> Iterator[str]:
    """A database URL for a live server: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    from tests.conftest import PG_BASE, require_service
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir}/live.db"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = "live_" + uuid.uuid4().hex[:12]
    _pg_schema_sync(True, schema)
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        _pg_schema_sync(False, schema)


@pytest.fixture(params=["sqlite", "postgres"])
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with live_database(request.param, tmp_path) as db:
        server = start_server(db, tmp_path)
        try:
            yield server
        finally:
            server.stop()
