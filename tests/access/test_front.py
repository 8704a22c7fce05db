"""`GET /api/account-memberships` on the lean front answers exactly as the FastAPI route does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("ctx")
HEADERS = ("content-type", "cache-control", "www-authenticate", "x-content-type-options")


async def test_the_front_and_the_app_give_the_same_answers(app_client, front_client, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    key = await make_key(org["id"])
    cases = [
        {"X-Api-Key": key},
        {"X-Api-Key": key, "X-Keyturn-Account": org["id"]},
        {"X-Api-Key": key, "X-Keyturn-Account": "another-account"},  # 400 ACCOUNT_MISMATCH
        {"X-Api-Key": key[:-1] + ("A" if key[-1] != "A" else "B")},  # bad checksum: 401
        {"X-Api-Key": key, "Authorization": "Bearer x"},  # both: 400
        {"Authorization": owner.token},  # seed 001 sends no Bearer prefix
        {"Authorization": f"Bearer {owner.token}", "X-Keyturn-Account": owner.account_id},
        {"Authorization": "Bearer not-a-token"},
        {},
    ]
    seen = set()
    for headers in cases:
        via_app = await app_client.get("/api/account-memberships", headers=headers)
        via_front = await front_client.get("/api/account-memberships", headers=headers)
        assert (via_front.status_code, via_front.json()) == (via_app.status_code, via_app.json()), headers
        for name in HEADERS:
            assert via_front.headers.get(name) == via_app.headers.get(name), (headers, name)
        seen.add(via_app.status_code)
    assert seen == {200, 400, 401}
    first = (await front_client.get("/api/account-memberships", headers={"X-Api-Key": key})).json()
    assert first == [{"accountId": org["id"], "accountName": org["name"], "accountType": "org",
                      "role": "merchant-terminal"}]


async def test_other_methods_and_paths_still_reach_the_app(front_client, make_user):
    owner = await make_user()
    r = await front_client.post("/api/account-memberships", headers={"Authorization": owner.token})
    assert r.status_code == 405
    r = await front_client.get(f"/api/users/{owner.id}/account-memberships", headers={"Authorization": owner.token})
    assert r.status_code == 200 and r.json()
