"""R45: repeated failed client authentications get 429 + Retry-After; other clients (and the
same client from its own address) are unaffected; the block lifts once the failures age out."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ISSUER


@pytest.fixture
def settings_overrides():
    return {"client_auth_max_failures": 5}


async def test_brute_force_is_throttled_per_client_and_address(client, app_and_ctx, make_credential, clock):
    victim, bystander = await make_credential(), await make_credential()
    for _ in range(5):
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(victim.client_id, "guess"))
        assert r.status_code == 401
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(victim.client_id, "guess"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.json()["error"] == "invalid_request" and r.headers["cache-control"] == "no-store"
    # Even the right secret from the attacking address is refused: a 429 says nothing about the secret.
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=victim.basic)
    assert r.status_code == 429
    # Another client is unaffected; the victim calling from its own address is not locked out.
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=bystander.basic)
    assert r.status_code == 200
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as own:
        r = await own.post("/token", data={"grant_type": "client_credentials"}, auth=victim.basic)
        assert r.status_code == 200
    # Refused attempts do not extend the block: it ends when the failures leave the 60 s window.
    for _ in range(20):
        await client.post("/token", data={"grant_type": "client_credentials"}, auth=(victim.client_id, "guess"))
    clock.advance(61)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=victim.basic)
    assert r.status_code == 200


async def test_unknown_client_ids_are_throttled_too(client):
    for _ in range(5):
        await client.post("/token", data={"grant_type": "client_credentials"}, auth=("ghost", "x"))
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=("ghost", "x"))
    assert r.status_code == 429
