"""storage/clients.py: list fields are stored as JSON lists and read back as tuples (on SQLite and PostgreSQL)."""

from __future__ import annotations

from keyturn.services.oidc import clients as oidc_clients
from keyturn.storage import clients as clients_repo


async def test_updated_list_fields_round_trip(ctx):
    issued = await oidc_clients.create(ctx, name="Shop", public=True, redirect_uris=["https://shop.example/cb"])
    cid = issued.record.client_id
    async with ctx.engine.begin() as conn:
        await clients_repo.update_fields(conn, cid, redirect_uris=("https://shop.example/cb", "com.shop.app:/cb"),
                                         allowed_origins=("https://shop.example",), grant_types=("authorization_code",),
                                         post_logout_redirect_uris=(), name="Shop 2")
    async with ctx.engine.connect() as conn:
        got = await clients_repo.get(conn, cid)
    assert got is not None
    assert (got.redirect_uris, got.allowed_origins, got.grant_types, got.post_logout_redirect_uris, got.name) == (
        ("https://shop.example/cb", "com.shop.app:/cb"), ("https://shop.example",), ("authorization_code",), (),
        "Shop 2")
