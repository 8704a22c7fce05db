"""Issue 12 items 1 and 4 (F-scenarios "PostgreSQL down"): with the database stopped, every endpoint that
needs it answers 503 fast in its audience's shape with Retry-After, one WARNING line per request and no
traceback; /jwks and discovery keep answering from memory; one summary line when the database is back.

In-process (the same front `keyturn serve` runs) against a throwaway PostgreSQL cluster this test stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from keyturn import metrics
from keyturn.services.context import Services
from tests.conftest import CredentialFixture, UserFixture
from tests.oidc.helpers import REDIRECT, authorize_params, make_client, pkce_pair, query_of
from tests.pgcluster import Cluster

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timing]


@pytest.fixture
def database_url(pg_cluster: Cluster) -> str:
    return pg_cluster.url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # client cache on, so an authorization request can prove its client with the database gone
    return {"database_timeout": 1.0, "client_cache_ttl": 30.0}


def _unavailable_json(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["error"] == "temporarily_unavailable"


def _errors(kind: str) -> float:
    return metrics.DATABASE_ERRORS.labels(kind)._value.get()  # type: ignore[no-any-return]


async def test_database_down_answers_503_in_each_audiences_shape(
        client: httpx.AsyncClient, ctx: Services, pg_cluster: Cluster, caplog: pytest.LogCaptureFixture,
        make_user: Callable[..., Awaitable[UserFixture]],
        make_credential: Callable[..., Awaitable[CredentialFixture]]) -> None:
    user = await make_user()
    cred = await make_credential(owner=user)
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    # warm: the client is cached, a token is minted, the origin index is built
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = await client.get("/authorize", params=authorize_params(rp["client_id"], challenge))
    assert r.status_code == 303
    r = await client.get("/.well-known/jwks.json", headers={"Origin": "https://app.example.test"})
    assert r.status_code == 200
    jwks_before = r.json()
    before = _errors("connection")

    pg_cluster.stop()
    caplog.clear()
    caplog.set_level(logging.INFO)
    started = time.monotonic()

    r = await client.post("/token", data={"grant_type": "client_credentials"},
                          auth=(cred.client_id + "x", cred.client_secret))  # a client not cached: a lookup
    _unavailable_json(r)
    r = await client.post("/introspect", data={"token": token}, auth=cred.basic)
    _unavailable_json(r)
    r = await client.post("/revoke", data={"token": token}, auth=cred.basic)
    _unavailable_json(r)

    r = await client.get("/api/v2/credential", headers=user.headers)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"] == "TEMPORARILY_UNAVAILABLE"

    # the authorization endpoint: client and redirect URI proven (cached client) -> an error redirect
    r = await client.get("/authorize", params=authorize_params(rp["client_id"], challenge, state="s-9"))
    assert r.status_code == 303, r.text
    q = query_of(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT)
    assert q["error"] == "temporarily_unavailable" and q["state"] == "s-9" and q["iss"] == ctx.settings.issuer
    # ... not proven (a client the cache does not hold) -> the HTML page, never a redirect
    r = await client.get("/authorize", params=authorize_params("oidc_unknownclient0000", challenge))
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert r.headers["retry-after"] == "2" and "location" not in r.headers
    assert "temporarily unavailable" in r.text
    # a person's page (the interaction page looks its interaction up)
    r = await client.get("/interaction/abcdefabcdefabcdefabcdef")
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")

    # what needs no database keeps answering (item 4): the keys are in memory, the origin index stale
    r = await client.get("/.well-known/jwks.json", headers={"Origin": "https://app.example.test"})
    assert r.status_code == 200 and r.json() == jwks_before
    assert r.headers.get("access-control-allow-origin") == "https://app.example.test"
    r = await client.get("/.well-known/openid-configuration")
    assert r.status_code == 200 and r.json()["issuer"] == ctx.settings.issuer
    r = await client.options("/token", headers={"Origin": "https://app.example.test",
                                                "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert time.monotonic() - started < 5.0  # every one failed fast (refused connections)

    failures = [rec for rec in caplog.records if rec.name == "keyturn.database"]
    assert len(failures) == 7 and all(rec.levelno == logging.WARNING for rec in failures)
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]
    assert _errors("connection") - before >= 7

    pg_cluster.start()
    caplog.clear()
    for _ in range(50):  # the pool's dead connections are dropped; the next requests succeed
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200, r.text
    summary = [rec.getMessage() for rec in caplog.records if "available again" in rec.getMessage()]
    assert len(summary) == 1 and "7 requests failed" in summary[0], summary


async def test_group_commit_fails_the_batch_and_every_unit_queued_behind_it_at_once(
        client: httpx.AsyncClient, ctx: Services, pg_cluster: Cluster,
        make_credential: Callable[..., Awaitable[CredentialFixture]]) -> None:
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200
    pg_cluster.stop()
    started = time.monotonic()
    answers = await asyncio.gather(*(
        client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic) for _ in range(40)))
    elapsed = time.monotonic() - started
    for r in answers:
        _unavailable_json(r)
    # one failed attempt answered them all: no unit waited for a further transaction
    assert ctx.writes.stats.failed <= 2, ctx.writes.stats
    assert ctx.writes.waiting == 0
    assert elapsed < 3.0
