"""F-scenario for group commit: ``keyturn serve`` killed with SIGKILL while batches are in flight.

Afterwards, on the same database: every refresh token that was answered is there and works once (no
token was returned whose rows are missing), and every refresh token whose rotation was answered is
refused (none redeemable twice).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server import live_database, start_server

THREADS = 16
LOAD_SECONDS = 2.0


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_under_load_loses_nothing_answered(kind: str, tmp_path: Path) -> None:
    with live_database(kind, tmp_path) as db:
        server = start_server(db, tmp_path)
        try:
            owner = server.cli("users", "create", "--email", "k@example.test", "--password", "correct horse battery")
            cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "kill.example.com",
                              "--scope", "a", "--refresh", "1d")["data"]
            auth = (cred["username"], cred["password"])
            answered: list[str] = []  # refresh tokens the server answered
            spent: list[str] = []  # refresh tokens whose rotation the server answered
            unknown: list[str] = []  # refresh tokens sent when the server died: used or not, nobody knows
            lock = threading.Lock()
            stop = threading.Event()

            def load() -> None:
                with httpx.Client(base_url=server.url, timeout=5) as c:
                    own: list[str] = []
                    deadline = time.monotonic() + 30  # bounded even if the kill never comes
                    while not stop.is_set() and time.monotonic() < deadline:
                        token = None
                        try:
                            if own and len(own) % 2:
                                token = own.pop()
                                data = {"grant_type": "refresh_token", "refresh_token": token}
                                r = c.post("/token", data=data, auth=auth)
                                assert r.status_code == 200, r.text
                                with lock:
                                    spent.append(token)
                            else:
                                r = c.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                                assert r.status_code == 200, r.text
                            fresh = r.json()["refresh_token"]
                            own.append(fresh)
                            with lock:
                                answered.append(fresh)
                        except httpx.HTTPError:
                            if token is not None:
                                with lock:
                                    unknown.append(token)
                            return  # the server is gone

            threads = [threading.Thread(target=load) for _ in range(THREADS)]
            for t in threads:
                t.start()
            time.sleep(LOAD_SECONDS)
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)
            stop.set()
            for t in threads:
                t.join(30)
            assert len(spent) > 20 and len(answered) > 40, (len(spent), len(answered))
        finally:
            server.stop()

        again = start_server(db, tmp_path)
        try:
            with httpx.Client(base_url=again.url, timeout=10) as c:
                unspent = [t for t in answered if t not in set(spent) | set(unknown)]
                for token in unspent:  # answered, so committed: it works once
                    r = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=auth)
                    assert r.status_code == 200, f"an answered refresh token is missing: {r.text}"
                for token in spent:  # its rotation was answered, so its use was committed: never again
                    r = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=auth)
                    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        finally:
            again.stop()
