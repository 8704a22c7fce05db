"""Issue 12 items 1 and 4 with a real ``keyturn serve``: PostgreSQL (a throwaway cluster) stopped for 10 s under
a bounded load loop. Every request that needs the database answers 503 with Retry-After, fast; /jwks and
discovery answer 200 and a resource server starting during the outage verifies a token; the log has one
WARNING line per failed request, no traceback, and one summary line once the database is back.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from pathlib import Path

import httpx
import pytest

from keyturn.rs import JWKSCache, TokenVerifier
from tests.pgcluster import Cluster
from tests.server import start_server

pytestmark = [pytest.mark.faults, pytest.mark.server, pytest.mark.timing]
OUTAGE_SECONDS = 10.0
MAX_REQUESTS = 4000
CONCURRENCY = 8


async def test_postgresql_stopped_under_load(pg_cluster: Cluster, tmp_path: Path) -> None:
    server = start_server(pg_cluster.url, tmp_path, env_extra={"KEYTURN_DATABASE_TIMEOUT": "2"})
    try:
        email = "outage@example.test"
        owner = server.cli("users", "create", "--email", email, "--password", "correct horse battery")
        cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "o", "--scope", "a")["data"]
        auth = (cred["username"], cred["password"])
        user_token = server.cli("tokens", "issue", "--user", email, "--lifetime", "900")["access_token"]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]

            requests = [
                ("token", lambda: client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)),
                ("introspect", lambda: client.post("/introspect", data={"token": token}, auth=auth)),
                ("management", lambda: client.get("/api/v2/credential",
                                                  headers={"Authorization": f"Bearer {user_token}"})),
                ("authorize", lambda: client.get("/authorize", params={"client_id": "oidc_nosuchclient00",
                                                                       "response_type": "code"})),
                ("jwks", lambda: client.get("/.well-known/jwks.json")),
                ("discovery", lambda: client.get("/.well-known/openid-configuration")),
            ]
            seen: dict[str, list[tuple[int, float]]] = {name: [] for name, _ in requests}
            pg_cluster.stop()
            started = time.monotonic()
            sent = 0

            async def worker(offset: int) -> None:
                nonlocal sent
                i = offset
                while time.monotonic() - started < OUTAGE_SECONDS and sent < MAX_REQUESTS:
                    sent += 1
                    name, call = requests[i % len(requests)]
                    i += 1
                    t0 = time.monotonic()
                    r = await call()
                    seen[name].append((r.status_code, time.monotonic() - t0))
                    if r.status_code == 503:
                        assert r.headers["retry-after"] == "2"

            async def resource_server_starts() -> dict[str, object]:
                await asyncio.sleep(2)  # well into the outage: a fresh cache, nothing fetched yet
                verifier = TokenVerifier(issuer=server.url, audience=server.url,
                                         jwks=JWKSCache(f"{server.url}/.well-known/jwks.json"))
                return await verifier.verify(token)

            *_, claims = await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)), resource_server_starts())
            assert isinstance(claims, dict) and claims["iss"] == server.url
            pg_cluster.start()
            back = time.monotonic()
            while True:
                r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                if r.status_code == 200 or time.monotonic() - back > 10:
                    break
                await asyncio.sleep(0.05)
            assert r.status_code == 200, r.text
            recovery = time.monotonic() - back

        failed = {name: [s for s in answers if s[0] == 503] for name, answers in seen.items()}
        for name in ("token", "introspect", "management", "authorize"):
            assert seen[name] and {s for s, _ in seen[name]} == {503}, (name, {s for s, _ in seen[name]})
        for name in ("jwks", "discovery"):
            assert seen[name] and {s for s, _ in seen[name]} == {200}, name
        latencies = [t for answers in failed.values() for _, t in answers]
        total = sum(len(a) for a in seen.values())
        n_failed = len(latencies)
        await asyncio.sleep(0.5)  # the access log is flushed every 0.25 s
        log = server.log()
        tracebacks = log.count("Traceback")
        warnings = len(re.findall(r"database unavailable \(\w+\): \S+ \S+ answered 503", log))
        summary = re.findall(r"database available again after [\d.]+ s, (\d+) requests failed", log)
        print(f"\nPostgreSQL stopped {OUTAGE_SECONDS:.0f} s, {CONCURRENCY} concurrent: {total} requests, "
              f"{n_failed} answered 503 (all that need the database), slowest 503 {max(latencies) * 1000:.1f} ms, "
              f"median {statistics.median(latencies) * 1000:.1f} ms; tracebacks in the log: {tracebacks}; "
              f"503 WARNING lines: {warnings}; summary: {summary}; first 200 after restart: {recovery:.2f} s")
        assert tracebacks == 0
        assert warnings == n_failed
        assert summary and int(summary[0]) == n_failed
        assert max(latencies) < 2.0
    finally:
        server.stop()


async def test_postgresql_frozen_with_the_default_timeout(pg_cluster: Cluster, tmp_path: Path) -> None:
    """SIGSTOP: connections stay open and nothing answers. With the default KEYTURN_DATABASE_TIMEOUT (5 s)
    token, introspection and management requests answer 503 within 5 s + ~1 s; the server recovers on thaw."""
    server = start_server(pg_cluster.url, tmp_path)
    try:
        email = "frozen@example.test"
        owner = server.cli("users", "create", "--email", email, "--password", "correct horse battery")
        cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "f", "--scope", "a")["data"]
        auth = (cred["username"], cred["password"])
        user_token = server.cli("tokens", "issue", "--user", email, "--lifetime", "900")["access_token"]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
            token = r.json()["access_token"]
            calls = {
                "token": lambda: client.post("/token", data={"grant_type": "client_credentials"}, auth=auth),
                "introspect": lambda: client.post("/introspect", data={"token": token}, auth=auth),
                "management": lambda: client.get("/api/v2/credential",
                                                 headers={"Authorization": f"Bearer {user_token}"}),
            }

            async def timed(name: str) -> tuple[str, int, float]:
                t0 = time.monotonic()
                r = await calls[name]()
                return name, r.status_code, time.monotonic() - t0

            pg_cluster.freeze()
            try:
                results = await asyncio.gather(*(timed(name) for name in calls for _ in range(6)))
                jwks_started = time.monotonic()
                assert (await client.get("/.well-known/jwks.json")).status_code == 200
                jwks_time = time.monotonic() - jwks_started
            finally:
                pg_cluster.thaw()
            back = time.monotonic()
            while (await calls["token"]()).status_code != 200:
                assert time.monotonic() - back < 10
                await asyncio.sleep(0.05)
            recovery = time.monotonic() - back
        assert {status for _, status, _ in results} == {503}
        figures = {name: (statistics.median(t for n, _, t in results if n == name),
                          max(t for n, _, t in results if n == name)) for name in calls}
        print("\nPostgreSQL frozen, default timeout 5 s, 6 concurrent each: " + ", ".join(
            f"{name} median {m:.2f} s slowest {x:.2f} s" for name, (m, x) in figures.items())
              + f"; /jwks meanwhile {jwks_time * 1000:.0f} ms; first 200 after thaw {recovery:.2f} s")
        assert max(x for _, x in figures.values()) < 6.0
        assert server.log().count("Traceback") == 0
    finally:
        server.stop()
