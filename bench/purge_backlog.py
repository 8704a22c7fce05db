"""How fast the purge clears a backlog: 20,000 dead grants with 40,000 refresh tokens and 20,000 revoked
tokens beside 20,000 live grants, one ``run_once`` (docs/deployment.md's figures).

    PYTHONPATH=src .venv/bin/python bench/purge_backlog.py sqlite|postgres
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keyturn.services.context import build_services  # noqa: E402
from keyturn.settings import Settings  # noqa: E402
from keyturn.storage import tables as t  # noqa: E402
from tests.conftest import PG_BASE, _pg_schema  # noqa: E402

N = 20000


async def backlog(url: str) -> None:
    s = Settings(environment="development", issuer="http://bench.test", database_url=url, purge_interval=0)
    ctx = build_services(s)
    await ctx.start(run_migrations=True)
    now, old = time.time(), time.time() - 10 * 86400
    async with ctx.engine.begin() as conn:
        await conn.execute(t.clients.insert().values(
            client_id="c", kind="credential", name="c", created_at=now, updated_at=now, grant_types=[],
            redirect_uris=[], post_logout_redirect_uris=[], allowed_origins=[], is_public=False, scope="", status=0,
            first_party=False, refresh_enabled=True, revoke_refresh_on_logout=False))
        grant = {"client_id": "c", "grant_type": "client_credentials", "scope": "", "revoked_at": None}
        await conn.execute(t.grants.insert(), [{**grant, "id": f"g{i}", "created_at": old, "expires_at": old + 3600}
                                               for i in range(N)])
        await conn.execute(t.refresh_tokens.insert(), [
            {"digest": f"r{i}-{j}", "grant_id": f"g{i}", "generation": j, "scope": "", "issued_at": old,
             "expires_at": old + 3600, "used_at": None} for i in range(N) for j in (1, 2)])
        await conn.execute(t.revoked_tokens.insert(), [{"jti": f"j{i}", "expires_at": old} for i in range(N)])
        await conn.execute(t.grants.insert(), [{**grant, "id": f"live{i}", "created_at": now, "expires_at": now + 3600}
                                               for i in range(N)])
    start = time.perf_counter()
    counts = await ctx.purger.run_once()
    took = time.perf_counter() - start
    total = sum(counts.values())
    batches = total / s.purge_batch
    print(f"{url.split(':')[0]}: {total} rows in {took:.2f} s ({total / took:.0f} rows/s, "
          f"{took / batches * 1000:.1f} ms a batch of {s.purge_batch}); {counts}")
    await ctx.close()


async def main(kind: str) -> None:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            await backlog(f"sqlite+aiosqlite:///{d}/backlog.db")
        return
    schema = "purge_backlog_" + uuid.uuid4().hex[:8]
    await _pg_schema(True, schema)
    try:
        await backlog(f"{PG_BASE}?schema={schema}")
    finally:
        await _pg_schema(False, schema)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite"))
