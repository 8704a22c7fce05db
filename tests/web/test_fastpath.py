"""The lean front that `keyturn serve` runs behaves exactly like the app's own routes."""

from __future__ import annotations

from typing import cast

import httpx
import pytest
from fastapi import FastAPI

from keyturn.services.context import build_services
from keyturn.web.app import create_asgi
from keyturn.web.server.accesslog import AccessLog
from keyturn.web.server.fastpath import FastPath
from keyturn.web.server.metrics import RequestMetrics
from tests.conftest import ISSUER


@pytest.fixture
async def front(settings, clock):
    ctx = build_services(settings, clock=clock)
    asgi = create_asgi(ctx, run_migrations=True)
    fast = asgi.app if isinstance(asgi, AccessLog) else asgi
    fast = fast.app if isinstance(fast, RequestMetrics) else fast
    assert isinstance(fast, FastPath)
    async with cast(FastAPI, fast.app).router.lifespan_context(fast.app):
        transport = httpx.ASGITransport(app=asgi, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
            yield fast, c


async def test_token_through_the_front_has_the_same_body_and_security_headers(front, make_credential):
    asgi, c = front
    cred = await make_credential()
    r = await c.post("/api/v2/access/token", json={"grant_type": "client_credentials",
                                                   "client_id": cred.client_id, "client_secret": cred.client_secret})
    assert r.status_code == 200, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    bad = await c.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, "x"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad.headers["x-content-type-options"] == "nosniff"


async def test_other_paths_fall_through_to_the_app(front):
    _, c = front
    assert (await c.get("/health")).json() == {"status": "ok"}
    r = await c.get("/token")
    assert r.status_code == 405


async def test_an_unexpected_failure_is_server_error_json_without_details(front):
    asgi, c = front

    async def boom(request):
        raise RuntimeError("secret internals")

    asgi.routes[("POST", "/token")] = boom
    r = await c.post("/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 500
    assert r.json() == {"error": "server_error"}
    assert "secret internals" not in r.text
