"""services/client_auth.py over HTTP: methods Keyturn does not support and public clients where a confidential
one is required are invalid_client (RFC 6749 §5.2), and never count a public client as an attacker."""

from __future__ import annotations

from keyturn.services.oidc import clients as oidc_clients


async def test_a_client_assertion_from_a_secret_client_is_refused(client, make_credential):
    """RFC 7523 client assertions (private_key_jwt) authenticate only a client registered for them (RFC 7591 §2)."""
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id,
                                          "client_assertion_type":
                                              "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                          "client_assertion": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"})
    assert r.status_code == 401 and r.json() == {"error": "invalid_client",
                                                 "error_description": "client authentication failed"}
    assert r.headers["cache-control"] == "no-store"
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]


async def test_a_public_client_may_not_introspect(client, ctx):
    """Introspection needs an authenticated (confidential) client (RFC 7662 §2.1); a public client is refused,
    however often it tries, without being rate limited as a secret guesser."""
    issued = await oidc_clients.create(ctx, name="SPA", public=True, redirect_uris=["https://spa.example/cb"])
    spa = issued.record.client_id
    for _ in range(ctx.settings.client_auth_max_failures + 2):
        r = await client.post("/introspect", data={"token": "x", "client_id": spa})
        assert r.status_code == 401
        assert r.json() == {"error": "invalid_client",
                            "error_description": "this grant requires a confidential client"}
    revoke = await client.post("/revoke", data={"token": "x", "client_id": spa})  # RFC 7009: public clients may
    assert revoke.status_code == 200
