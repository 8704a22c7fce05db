"""F07, planned signing-key rotation under load (issue 12 item 5): a live ``keyturn serve``, a resource server's
verifier with the default JWKS cooldown, ``keyturn keys rotate`` mid-load, and zero verification failures.

The rotation follows docs/tokens.md: the new key is pre-published ``KEYTURN_KEY_PREPUBLISH_SECONDS`` ≥ the RS
cache age + 5 s before it signs (the 5 s: a node reloads its keys at most every 5 s, so a key rotated through
another process reaches its JWKS up to 5 s late). The RS cache age is short here (5 s, the default cooldown
30 s stays) so the test takes seconds, not the 300 s of the default ``max_age``: it is the cache's age, not
its value, that the rule is about.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import jwt
import pytest

from keyturn.rs import InvalidAccessToken, JWKSCache, TokenVerifier
from tests.server import KEYTURN, start_server

pytestmark = [pytest.mark.faults, pytest.mark.server]

RS_CACHE_AGE = float(os.environ.get("KEYTURN_TEST_RS_CACHE_AGE", "5"))
PREPUBLISH = int(RS_CACHE_AGE) + 5
CONCURRENCY = 4
MAX_REQUESTS = 20_000  # a bound on the load loop, besides its duration


async def test_planned_rotation_under_load_has_zero_verification_failures(tmp_path: Path) -> None:
    server = start_server(f"sqlite+aiosqlite:///{tmp_path}/rot.db", tmp_path,
                          env_extra={"KEYTURN_KEY_PREPUBLISH_SECONDS": str(PREPUBLISH)})
    try:
        owner = server.cli("users", "create", "--email", "rot@example.test", "--password", "correct horse battery")
        cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "rot", "--scope", "a")["data"]
        auth = (cred["username"], cred["password"])
        jwks = JWKSCache(f"{server.url}/.well-known/jwks.json", max_age=RS_CACHE_AGE)  # default cooldown
        assert jwks.cooldown == 30.0
        verifier = TokenVerifier(issuer=server.url, audience=server.url, jwks=jwks)
        kids: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        done = 0
        start = time.monotonic()
        rotated: dict[str, float] = {}

        async def rotate() -> None:
            await asyncio.sleep(2.0)
            res = await asyncio.to_thread(subprocess.run, [KEYTURN, "keys", "rotate", "--json"], env=server.env,
                                          capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stderr
            rotated["at"] = time.monotonic()

        # Until the new key has signed for 3 s.
        def running() -> bool:
            return done < MAX_REQUESTS and time.monotonic() - start < 40 and (
                "at" not in rotated or time.monotonic() < rotated["at"] + PREPUBLISH + 3)

        async def load(client: httpx.AsyncClient) -> None:
            nonlocal done
            while running():
                r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                assert r.status_code == 200, r.text
                token = r.json()["access_token"]
                done += 1
                kid = jwt.get_unverified_header(token)["kid"]
                try:
                    await verifier.verify(token)
                    kids[kid] += 1
                except InvalidAccessToken as exc:
                    failures[str(exc)] += 1
                await asyncio.sleep(0.005)

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            rotation = asyncio.ensure_future(rotate())
            await asyncio.gather(*(load(client) for _ in range(CONCURRENCY)))
            await rotation
        elapsed = time.monotonic() - start
        print(f"\nrotation under load: {done} verifications in {elapsed:.1f} s, failures {dict(failures)}, "
              f"by kid {dict(kids)} (RS cache age {RS_CACHE_AGE} s, cooldown {jwks.cooldown} s, "
              f"prepublish {PREPUBLISH} s)")
        assert not failures, failures
        assert len(kids) == 2 and min(kids.values()) > 0, kids  # old key before, new key after the activation
    finally:
        server.stop()
