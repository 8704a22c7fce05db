"""The credential API refuses over-broad `domain` patterns (R54, docs/domain-patterns.md)."""

from __future__ import annotations


async def test_credential_with_a_wildcard_over_a_public_suffix_is_refused(client, make_user):
    user = await make_user()
    for domain in ("*.co.uk", ".*com.au.*", "www.my.app.cu *.github.io", "a" * 64 + ".example"):
        r = await client.post("/api/v2/credential", json={"name": "my.app.cu", "domain": domain},
                              headers=user.headers)
        assert r.status_code == 400, (domain, r.text)
        assert r.json()["status"] == "ERROR" and r.json()["error"] == "INVALID_DOMAIN"
    listed = await client.get("/api/v2/credential", headers=user.headers)
    assert listed.json()["data"] == []  # nothing half-created
    ok = await client.post("/api/v2/credential", json={"name": "my.app.cu", "domain": "*.shop.co.uk"},
                           headers=user.headers)
    assert ok.status_code == 200, ok.text
