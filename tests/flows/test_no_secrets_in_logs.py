"""R106: a full flow at DEBUG level leaves no secret, token or password in the captured logs."""

from __future__ import annotations

import logging


async def test_flows_log_no_secrets(client, caplog, make_user):
    caplog.set_level(logging.DEBUG)
    user = await make_user(password="a very secret passphrase")
    r = await client.post("/api/v2/credential", json={"name": "x", "scope": "ALLOW_OTA_CHARGE", "refresh": "1d"},
                          headers=user.headers)
    cred = r.json()["data"]
    auth = (cred["username"], cred["password"])
    tokens = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)).json()
    refreshed = (await client.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": tokens["refresh_token"]}, auth=auth)).json()
    await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                      auth=auth)  # reuse: audited
    await client.post("/introspect", data={"token": refreshed["access_token"]}, auth=auth)
    await client.post("/revoke", data={"token": refreshed["refresh_token"]}, auth=auth)
    await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred["username"], "wrong-guess"))
    rotated = (await client.post(f"/api/v2/credential/{cred['username']}/rotate", headers=user.headers)).json()
    text = caplog.text
    assert "token issued" in text and "refresh_token.reuse_detected" in text
    for secret in (user.password, user.token, cred["password"], tokens["access_token"], tokens["refresh_token"],
                   refreshed["access_token"], refreshed["refresh_token"], "wrong-guess",
                   rotated["data"]["password"]):
        assert secret not in text
