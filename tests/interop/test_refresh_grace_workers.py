"""The refresh grace window across worker processes (docs/client-authentication.md): ``keyturn serve --workers 2``
on SQLite and on PostgreSQL, one refresh token sent by several connections at once (the kernel spreads them
over both workers, as two browser tabs would reach two workers). Every answer is 200 with the identical successor
and access token, the family lives on, and no token reaches the log. Nothing is kept in a process: the answer
is sealed in the database row (core/reissue.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.server import live_database, start_server

pytestmark = [pytest.mark.server]

RACERS = 8
ROUNDS = 3
PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_repeats_over_two_workers_get_the_identical_successor(kind: str, tmp_path: Path) -> None:
    with live_database(kind, tmp_path) as db:
        server = start_server(db, tmp_path, env_extra={"KEYTURN_REFRESH_REUSE_GRACE": "10"}, workers=2)
        try:
            owner = server.cli("users", "create", "--email", "tabs@example.test", "--password", PASSWORD)
            data = server.cli("credentials", "create", "--user", owner["id"], "--name", "my.app.cu", "--scope", "a",
                              "--refresh", "1d")["data"]
            basic = (data["username"], data["password"])
            token_url = f"{server.url}/token"
            rt = httpx.post(token_url, data={"grant_type": "client_credentials"}, auth=basic).json()["refresh_token"]
            seen = [rt]
            for _ in range(ROUNDS):
                gate = threading.Barrier(RACERS)

                def send(_: int, rt: str = rt, gate: threading.Barrier = gate) -> httpx.Response:
                    with httpx.Client() as c:  # a connection of its own: either worker may take it
                        gate.wait()
                        return c.post(token_url, data={"grant_type": "refresh_token", "refresh_token": rt},
                                      auth=basic)

                with ThreadPoolExecutor(RACERS) as pool:
                    answers = list(pool.map(send, range(RACERS)))
                assert [r.status_code for r in answers] == [200] * RACERS, [r.text for r in answers]
                assert len({(r.json()["refresh_token"], r.json()["access_token"]) for r in answers}) == 1
                assert all(r.headers["cache-control"] == "no-store" for r in answers)
                rt = answers[0].json()["refresh_token"]
                seen.append(rt)
            last = httpx.post(token_url, data={"grant_type": "refresh_token", "refresh_token": rt}, auth=basic)
            assert last.status_code == 200, last.text
            log = server.log()
            assert not any(t in log for t in seen)
            assert "refresh_token.reissued" in log and "reuse_detected" not in log
        finally:
            server.stop()
