"""``KEYTURN_TRUSTED_PROXIES``: behind a listed proxy every per-address decision sees the client that
``X-Forwarded-For`` names (its right-most hop no trusted proxy vouches for): a credential's address entries,
the audit trail, the client-authentication limit, the login throttle and ``KEYTURN_METRICS_ALLOW``. From any
other peer the header is never read. SQLite and PostgreSQL, through the front (web/server/address.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from keyturn.core.audit import AuditFilter
from keyturn.services import audit as audit_service
from keyturn.services.context import Services
from tests.conftest import ISSUER
from tests.oidc.helpers import authorize_params, form_of, make_client, pkce_pair

Via = Callable[..., Awaitable[httpx.AsyncClient]]
CC = {"grant_type": "client_credentials"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"trusted_proxies": ("10.0.0.0/8", "127.0.0.1"), "client_auth_max_failures": 3}


@pytest.fixture
async def via(app_and_ctx: tuple[Any, Services]) -> AsyncIterator[Via]:
    """httpx through the front from TCP peer ``peer``, sending ``X-Forwarded-For: forwarded`` when given."""
    opened: list[httpx.AsyncClient] = []

    async def make(peer: str, forwarded: str | None = None) -> httpx.AsyncClient:
        headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_and_ctx[0], client=(peer, 40000)),
                              base_url=ISSUER, headers=headers)
        opened.append(c)
        return c
    yield make
    for c in opened:
        await c.aclose()


async def _refused_ips(ctx: Services) -> list[str | None]:
    return [e.ip for e in (await audit_service.list_events(ctx, AuditFilter(kinds=("client.address_refused",)))).events]


def test_the_setting_is_normalised(settings):
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32")


async def test_a_trusted_proxy_forwards_the_clients_address(via, ctx, make_credential):
    cred = await make_credential(domain="www.my.app.cu 203.0.113.0/24 2001:db8::/32")
    for peer, forwarded in (("10.0.0.5", "203.0.113.7"), ("10.0.0.5", "6.6.6.6, 203.0.113.7"),
                            ("10.0.0.5", "203.0.113.7, 10.9.9.9"), ("127.0.0.1", "[2001:db8::7]:4711"),
                            ("::ffff:10.0.0.5", "203.0.113.8")):
        r = await (await via(peer, forwarded)).post("/token", data=CC, auth=cred.basic)
        assert r.status_code == 200, (peer, forwarded, r.text)
    refused: list[tuple[str, str | None]] = [
        ("10.0.0.5", "203.0.113.7, 6.6.6.6"),  # the proxy saw 6.6.6.6
        ("10.0.0.5", "203.0.113.7, unknown"),  # malformed: the proxy itself, 10.0.0.5
        ("10.0.0.5", None),  # no header: the proxy itself
        ("198.51.100.1", "203.0.113.7")]  # not a trusted proxy: its header is ignored
    for peer, maybe in refused:
        r = await (await via(peer, maybe)).post("/token", data=CC, auth=cred.basic)
        assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client"), (peer, maybe)
    assert await _refused_ips(ctx) == ["6.6.6.6", "10.0.0.5", "10.0.0.5", "198.51.100.1"]


async def test_the_failure_limit_counts_per_forwarded_address(via, make_credential):
    cred = await make_credential()
    attacker, merchant = await via("10.0.0.5", "6.6.6.6"), await via("10.0.0.5", "203.0.113.7")
    for _ in range(3):
        r = await attacker.post("/token", data=CC, auth=(cred.client_id, "wrong"))
        assert r.status_code == 401
    assert (await attacker.post("/token", data=CC, auth=cred.basic)).status_code == 429
    # the same proxy, another client behind it: not blocked (before, every client shared the proxy's count)
    assert (await merchant.post("/token", data=CC, auth=cred.basic)).status_code == 200


async def test_metrics_see_the_client_not_the_proxy(via):
    assert (await (await via("127.0.0.1")).get("/metrics")).status_code == 200  # the loopback scraper itself
    # a client forwarded by the loopback proxy is not a loopback scraper
    assert (await (await via("127.0.0.1", "203.0.113.7")).get("/metrics")).status_code == 404
    assert (await (await via("10.0.0.5", "127.0.0.1")).get("/metrics")).status_code == 200
    assert (await (await via("198.51.100.1", "127.0.0.1")).get("/metrics")).status_code == 404


async def test_the_login_throttle_and_its_audit_see_the_forwarded_address(via, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    browser = await via("10.0.0.5", "203.0.113.50")
    _, challenge = pkce_pair()
    r = await browser.get("/authorize", params=authorize_params(rp["client_id"], challenge))
    action, fields = form_of((await browser.get(r.headers["location"])).text)
    r = await browser.post(action, data={**fields, "username": user.email, "password": "wrong password!"})
    assert r.status_code == 401
    failed = (await audit_service.list_events(ctx, AuditFilter(kinds=("login.failed",)))).events
    assert [e.ip for e in failed] == ["203.0.113.50"]
