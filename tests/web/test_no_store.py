"""R38 (issue 9 item 8): every response that carries a secret is `Cache-Control: no-store` and
`Pragma: no-cache`, and so are the errors of the same endpoints."""

from __future__ import annotations

from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token


async def test_every_response_carrying_a_secret_is_no_store(client, ctx, make_user, make_credential):
    user = await make_user()
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    cred = await make_credential(user)
    secrets = [
        ("credential create", await client.post("/api/v2/credential", json={"name": "n"}, headers=user.headers),
         ("data", "password")),
        ("credential rotate", await client.post(f"/api/v2/credential/{cred.client_id}/rotate", headers=user.headers),
         ("data", "password")),
        ("OIDC client create", await client.post(
            "/api/oidc-clients", headers={"Authorization": f"Bearer {admin}"},
            json={"name": "Web", "type": "confidential", "redirect_uris": ["https://rp.example/cb"]}),
         ("data", "client_secret")),
        ("API key create", await client.post(f"/api/accounts/{user.account_id}/api-keys", headers=user.headers,
                                             json={"name": "till", "role": "merchant-terminal"}), ("secret",)),
    ]
    errors = [
        ("credential create", await client.post("/api/v2/credential", json={}, headers=user.headers)),
        ("credential rotate", await client.post("/api/v2/credential/nope/rotate", headers=user.headers)),
        ("OIDC client create", await client.post("/api/oidc-clients", json={}, headers=user.headers)),
        ("API key create", await client.post(f"/api/accounts/{user.account_id}/api-keys", json={"name": "x"},
                                             headers=user.headers)),
    ]
    for what, r, where in secrets:
        assert r.status_code in (200, 201), (what, r.text)
        value = r.json()
        for key in where:
            value = value[key]
        assert isinstance(value, str) and len(value) >= 22, what
        assert r.headers.get("cache-control") == "no-store", what
        assert r.headers.get("pragma") == "no-cache", what
    for what, r in errors:
        assert 400 <= r.status_code < 500, (what, r.text)
        assert r.headers.get("cache-control") == "no-store", what
        assert r.headers.get("pragma") == "no-cache", what
