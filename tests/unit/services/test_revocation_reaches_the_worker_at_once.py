"""With a production cache TTL, a revocation made by this worker is visible to it at once."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings_overrides():
    return {"client_cache_ttl": 30.0}


async def test_revoked_access_token_and_credential_fail_introspection_immediately(client, make_credential, ctx):
    cred = await make_credential(refresh="1d")
    other = await make_credential()
    tok = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    introspect = lambda t: client.post("/introspect", data={"token": t}, auth=other.basic)  # noqa: E731
    assert (await introspect(tok["access_token"])).json()["active"] is True
    assert (await client.post("/revoke", data={"token": tok["access_token"]}, auth=cred.basic)).status_code == 200
    assert (await introspect(tok["access_token"])).json() == {"active": False}

    tok2 = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    assert (await introspect(tok2["access_token"])).json()["active"] is True
    r = await client.post("/revoke", data={"token": tok2["refresh_token"]}, auth=cred.basic)
    assert r.status_code == 200
    assert (await introspect(tok2["access_token"])).json() == {"active": False}  # its grant is revoked


async def test_refresh_reuse_kills_the_access_token_at_once(client, make_credential):
    cred = await make_credential(refresh="1d")
    other = await make_credential()
    first = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    second = (await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                                auth=cred.basic)).json()
    r = await client.post("/introspect", data={"token": second["access_token"]}, auth=other.basic)
    assert r.json()["active"] is True
    replay = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                               auth=cred.basic)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    r = await client.post("/introspect", data={"token": second["access_token"]}, auth=other.basic)
    assert r.json() == {"active": False}
