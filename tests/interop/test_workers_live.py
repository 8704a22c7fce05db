"""`keyturn serve --workers 2`: both workers serve, and a revocation reaches every worker within the cache TTL."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.server import start_server


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_two_workers_share_the_load_and_see_a_revocation(tmp_path):
    server = start_server(f"sqlite+aiosqlite:///{tmp_path}/w.db", tmp_path, workers=2)
    try:
        owner = server.cli("users", "create", "--email", "w@example.test", "--password", "correct horse battery")
        cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "w", "--scope", "a")["data"]
        auth = (cred["username"], cred["password"])
        workers = [p for p in _children(server.proc.pid) if "resource_tracker" not in
                   Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) == 2, workers
        before = {p: _cpu_ticks(p) for p in workers}
        clients = [httpx.Client(base_url=server.url) for _ in range(16)]  # 16 connections, like a pool
        try:
            tokens = [c.post("/token", data={"grant_type": "client_credentials"}, auth=auth).json()["access_token"]
                      for c in clients for _ in range(20)]
            assert len(set(tokens)) == len(tokens)
            busy = [p for p in workers if _cpu_ticks(p) - before[p] > 0]
            assert len(busy) == 2, "one worker took every connection"
            victim = tokens[0]
            assert clients[0].post("/revoke", data={"token": victim}, auth=auth).status_code == 200
            deadline = time.monotonic() + 5
            while True:
                answers = {c.post("/introspect", data={"token": victim}, auth=auth).json()["active"] for c in clients}
                if answers == {False}:
                    break
                assert time.monotonic() < deadline, "a worker still accepts a revoked token"
                time.sleep(0.2)
            assert clients[5].post("/introspect", data={"token": tokens[1]}, auth=auth).json()["active"] is True
        finally:
            for c in clients:
                c.close()
    finally:
        server.stop()
