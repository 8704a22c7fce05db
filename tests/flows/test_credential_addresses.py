"""Issue 13 item 5: a credential's ``domain`` may name addresses (``203.0.113.0/24``, ``2001:db8::/32``); such a
credential authenticates at /token (every grant; also /introspect and /revoke) only from a matching address,
else ``400 unauthorized_client``, audited as ``client.address_refused``, counted as ``address_refused``. The
peer is the TCP socket's here (no trusted proxies; tests/flows/test_trusted_proxies.py has them). Invalid
address entries are ``400 INVALID_DOMAIN`` in the seed's shape. SQLite and PostgreSQL, through the front."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from keyturn import metrics
from keyturn.core.audit import AuditFilter
from keyturn.services import audit as audit_service
from keyturn.services.context import Services
from tests.conftest import ISSUER

REFUSED = {"error": "unauthorized_client", "error_description": "this client is not allowed from this address"}
Peer = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def peer(app_and_ctx: tuple[Any, Services]) -> AsyncIterator[Peer]:
    """httpx through the front as seen from another TCP peer address."""
    opened: list[httpx.AsyncClient] = []

    async def make(host: str) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_and_ctx[0], client=(host, 40000)),
                              base_url=ISSUER)
        opened.append(c)
        return c
    yield make
    for c in opened:
        await c.aclose()


def _refusals() -> float:
    return float(metrics.CLIENT_AUTH_FAILURES.labels("address_refused")._value.get())  # noqa: SLF001


async def _refused_events(ctx: Services) -> list[Any]:
    return (await audit_service.list_events(ctx, AuditFilter(kinds=("client.address_refused",)))).events


async def test_the_seeds_request_with_an_address_domain(client, peer, ctx, make_user):
    """POST /api/v2/credential with addresses in `domain`, then the seed's JSON token request from inside
    and from outside them."""
    user = await make_user()
    domain = ".*tropipay.com.* www.my.app.cu *.localhost.* 203.0.113.0/24 2001:db8::/32"
    r = await client.post("/api/v2/credential", json={"name": "my.app.cu", "domain": domain,
                                                      "scope": "ALLOW_EXTERNAL_CHARGE"}, headers=user.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["domain"] == domain
    body = {"grant_type": "client_credentials", "client_id": data["username"], "client_secret": data["password"]}
    for host in ("203.0.113.7", "203.0.113.255", "2001:db8::5", "::ffff:203.0.113.9"):
        ok = await (await peer(host)).post("/api/v2/access/token", json=body)
        assert ok.status_code == 200, (host, ok.text)
        assert ok.json()["token_type"] == "Bearer"
    before, events_before = _refusals(), len(await _refused_events(ctx))
    for path in ("/api/v2/access/token", "/token"):
        for c in (client, await peer("203.0.114.1"), await peer("2001:db9::1")):
            r = await c.post(path, json=body)
            assert r.status_code == 400, r.text
            assert r.json() == REFUSED  # nothing of the allowed list is told
            assert r.headers["cache-control"] == "no-store"
            assert "203.0.113" not in r.text and "2001:db8" not in r.text
    assert _refusals() == before + 6
    events = (await _refused_events(ctx))[events_before:]
    assert [(e.client_id, e.ip) for e in events] == [(data["username"], h) for h in
                                                     ("127.0.0.1", "203.0.114.1", "2001:db9::1") * 2]
    assert all(e.actor is None and e.detail == {} for e in events)  # no secret, no allowed list


async def test_a_wrong_secret_from_outside_is_invalid_client_as_ever(client, make_credential, ctx):
    cred = await make_credential(domain="203.0.113.0/24")
    before = len(await _refused_events(ctx))
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert len(await _refused_events(ctx)) == before


async def test_every_grant_and_introspection_and_revocation_are_restricted(client, peer, make_credential):
    cred = await make_credential(domain="www.my.app.cu 198.51.100.0/24")
    inside = await peer("198.51.100.20")
    issued = await inside.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert issued.status_code == 200, issued.text
    access, refresh = issued.json()["access_token"], issued.json()["refresh_token"]
    for path, data in (("/token", {"grant_type": "refresh_token", "refresh_token": refresh}),
                       ("/introspect", {"token": access}), ("/revoke", {"token": refresh})):
        r = await client.post(path, data=data, auth=cred.basic)
        assert (r.status_code, r.json()) == (400, REFUSED), path
    r = await inside.post("/introspect", data={"token": access}, auth=cred.basic)
    assert r.json()["active"] is True
    r = await inside.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=cred.basic)
    assert r.status_code == 200, r.text  # the refusals consumed nothing
    assert (await inside.post("/revoke", data={"token": r.json()["refresh_token"]}, auth=cred.basic)).status_code == 200


async def test_a_browser_needs_both_an_allowed_origin_and_an_allowed_address(peer, make_credential):
    cred = await make_credential(domain="www.my.app.cu 198.51.100.0/24")
    inside, outside = await peer("198.51.100.20"), await peer("192.0.2.1")
    data = {"grant_type": "client_credentials"}
    ok = await inside.post("/token", data=data, auth=cred.basic, headers={"origin": "https://www.my.app.cu"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://www.my.app.cu"
    r = await inside.post("/token", data=data, auth=cred.basic, headers={"origin": "https://evil.example"})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = await outside.post("/token", data=data, auth=cred.basic, headers={"origin": "https://www.my.app.cu"})
    assert (r.status_code, r.json()) == (400, REFUSED)


async def test_an_address_entry_is_not_a_browser_origin(peer, make_credential):
    cred = await make_credential(domain="127.0.0.1")
    here = await peer("127.0.0.1")
    assert (await here.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).status_code == 200
    r = await here.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                        headers={"origin": "http://127.0.0.1"})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    pre = await here.options("/token", headers={"origin": "http://127.0.0.1", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


async def test_without_address_entries_a_credential_is_unrestricted(peer, make_credential):
    cred = await make_credential(domain=".*tropipay.com.* www.my.app.cu *.localhost.*")
    for host in ("203.0.113.7", "2001:db8::1", "10.1.2.3"):
        r = await (await peer(host)).post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
        assert r.status_code == 200, (host, r.text)


@pytest.mark.parametrize(("domain", "says"), [
    ("10.0.0.0/33", "not an IP address or CIDR network"), ("10.0.0.1/24", "did you mean 10.0.0.0/24?"),
    ("www.my.app.cu 2001:db8::1/32", "did you mean 2001:db8::/32?"), ("fe80::1%eth0", "zone"),
    ("::ffff:10.0.0.1", "IPv4 form"), ("[2001:db8::]/32", "without brackets"),
])
async def test_invalid_address_entries_are_refused_in_the_seeds_shape(client, make_user, domain, says):
    user = await make_user()
    r = await client.post("/api/v2/credential", json={"name": "my.app.cu", "domain": domain}, headers=user.headers)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "ERROR" and r.json()["error"] == "INVALID_DOMAIN"
    assert says in r.json()["message"]
    assert (await client.get("/api/v2/credential", headers=user.headers)).json()["data"] == []


async def test_updating_the_domain_adds_and_removes_the_restriction(client, peer, make_user):
    user = await make_user()
    r = await client.post("/api/v2/credential", json={"name": "my.app.cu", "domain": "www.my.app.cu"},
                          headers=user.headers)
    cred = r.json()["data"]
    path, basic = f"/api/v2/credential/{cred['username']}", (cred["username"], cred["password"])
    data = {"grant_type": "client_credentials"}
    assert (await client.post("/token", data=data, auth=basic)).status_code == 200
    r = await client.patch(path, json={"domain": "www.my.app.cu 10.0.0.1/24"}, headers=user.headers)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_DOMAIN"
    r = await client.patch(path, json={"domain": "www.my.app.cu 10.0.0.0/24"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["data"]["domain"] == "www.my.app.cu 10.0.0.0/24"
    assert (await client.post("/token", data=data, auth=basic)).json() == REFUSED
    assert (await (await peer("10.0.0.9")).post("/token", data=data, auth=basic)).status_code == 200
    r = await client.put(path, json={"domain": "www.my.app.cu"}, headers=user.headers)
    assert r.status_code == 200
    assert (await client.post("/token", data=data, auth=basic)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"client_auth_max_failures": 3}])
async def test_refusals_count_towards_the_per_address_limit(client, peer, make_credential):
    cred = await make_credential(domain="198.51.100.0/24")
    data = {"grant_type": "client_credentials"}
    for _ in range(3):
        assert (await client.post("/token", data=data, auth=cred.basic)).status_code == 400
    r = await client.post("/token", data=data, auth=cred.basic)
    assert r.status_code == 429 and "retry-after" in r.headers
    # the credential's own address is not affected
    assert (await (await peer("198.51.100.1")).post("/token", data=data, auth=cred.basic)).status_code == 200
