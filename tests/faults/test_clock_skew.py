"""F08, clock skew between nodes (issue 12 item 6): two ``keyturn serve`` processes on one PostgreSQL database,
the second one's clock 8 s behind (libfaketime). With the default ``KEYTURN_CLOCK_LEEWAY`` (10 s) a token minted
on the fast node is active when introspected on the slow one, a code issued on the slow node redeems on the fast
one near the end of its life, and the slow node signs from its first start (its clock is before the keys'
activation); with a leeway of 0 the first two fail, which is what the leeway is for.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.oidc.helpers import REDIRECT, authorize_code, exchange
from tests.server import LiveServer, live_database, start_server

pytestmark = [pytest.mark.faults, pytest.mark.server, pytest.mark.postgres]

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
SKEW = 8  # seconds the slow node is behind
CODE_TTL = 10  # the least KEYTURN_CODE_TTL: a code from the slow node is expired on the fast one after 2 s
PASSWORD = "correct horse battery"
ISSUER = "http://keyturn.nodes.test"  # issuer-identical settings on both nodes


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    if not os.path.exists(LIBFAKETIME):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{LIBFAKETIME} is required in CI (scripts/test-deps.sh installs faketime)")
        pytest.skip(f"{LIBFAKETIME} missing: install faketime (scripts/test-deps.sh)")
    with live_database("postgres", tmp_path) as db:
        yield db


def _nodes(database: str, workdir: Path, leeway: int) -> tuple[LiveServer, LiveServer]:
    common = {"KEYTURN_ISSUER": ISSUER, "KEYTURN_CODE_TTL": str(CODE_TTL), "KEYTURN_CLOCK_LEEWAY": str(leeway)}
    fast = start_server(database, workdir, env_extra=common)
    try:
        slow = start_server(database, workdir, env_extra={
            **common, "LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"-{SKEW}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    except BaseException:
        fast.stop()
        raise
    return fast, slow


@pytest.mark.parametrize("leeway", [10, 0])
async def test_two_nodes_whose_clocks_differ(database: str, tmp_path: Path, leeway: int) -> None:
    fast, slow = _nodes(database, tmp_path, leeway)
    try:
        owner = fast.cli("users", "create", "--email", "skew@example.test", "--password", PASSWORD)
        cred = fast.cli("credentials", "create", "--user", owner["id"], "--name", "skew", "--scope", "a")["data"]
        auth = (cred["username"], cred["password"])
        rp = fast.cli("clients", "create", "--name", "Skew app", "--public", "--first-party",
                      "--redirect-uri", REDIRECT)
        user = SimpleNamespace(email="skew@example.test", password=PASSWORD)
        async with httpx.AsyncClient(base_url=fast.url, timeout=10) as a, \
                httpx.AsyncClient(base_url=slow.url, timeout=10) as b:
            # The slow node started before the keys' activation on its clock: it signs all the same.
            r = await b.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
            assert r.status_code == 200, r.text
            minted_slow = r.json()["access_token"]
            assert (await a.post("/introspect", data={"token": minted_slow}, auth=auth)).json()["active"] is True

            # A token minted on the fast node: its iat/nbf lie SKEW seconds in the slow node's future.
            minted_fast = (await a.post("/token", data={"grant_type": "client_credentials"}, auth=auth)).json()
            active = (await b.post("/introspect", data={"token": minted_fast["access_token"]}, auth=auth)).json()
            assert active["active"] is (leeway >= SKEW), active

            # A code issued on the slow node, redeemed on the fast one 2.5 s before its expiry on the slow clock.
            code, verifier, _ = await authorize_code(b, rp["client_id"], user)
            await asyncio.sleep(CODE_TTL - SKEW + 0.5)
            r = await exchange(a, rp["client_id"], code, verifier)
            if leeway >= SKEW:
                assert r.status_code == 200, r.text
                assert "access_token" in r.json()
            else:
                assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        print(f"\nclock skew {SKEW} s, leeway {leeway} s: fast-minted token active on slow node: {active['active']}; "
              f"slow-issued code redeemed on fast node: {r.status_code}; slow node signs at first start: yes")
    finally:
        slow.stop()
        fast.stop()
