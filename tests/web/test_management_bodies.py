"""The management API reads JSON strictly and answers every malformed body in its own shape (no-store)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("body", [b'{"name":"\xff"}', b'{"name":' + b"9" * 5000 + b"}", b"[" * 1000 + b"]" * 1000,
                                  b'{"name":"x","name":"y"}', b'{"name":"a","scope":"ALLOW_OTA_CHARGE","scope":""}'])
async def test_a_malformed_or_ambiguous_json_body_is_invalid_request_and_nothing_is_created(client, make_user, body):
    """RFC 8259 §4: with a repeated member two readers may keep different values; refuse it, never pick one."""
    user = await make_user()
    h = {**user.headers, "content-type": "application/json"}
    r = await client.post("/api/v2/credential", content=body, headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "INVALID_REQUEST" and r.headers["cache-control"] == "no-store"
    assert (await client.get("/api/v2/credential", headers=user.headers)).json()["data"] == []


async def test_a_repeated_member_in_the_decision_body_is_refused(client, make_user):
    user = await make_user()
    r = await client.post("/api/authorize", content=b'{"permission":"accounts:read","accountId":"a","accountId":"b"}',
                          headers={**user.headers, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"


@pytest.mark.parametrize("path", ["/api/nope", "/auth/forward/x", "/api/v2/credential/..%2f.."])
async def test_an_unknown_api_path_is_a_no_store_not_found(client, path):
    r = await client.get(path)
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND" and r.headers["cache-control"] == "no-store"
