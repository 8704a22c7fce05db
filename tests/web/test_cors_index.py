"""The origin index answers "does any active client allow this origin?" without a query per request."""

from __future__ import annotations

from keyturn.services import credentials as credentials_service
from keyturn.web import cors


async def test_the_index_holds_active_credentials_patterns_once(ctx, clock, make_user, make_credential):
    owner = await make_user()
    await make_credential(owner, domain="*.shop.example www.pay.example")
    await make_credential(owner, domain="*.shop.example")  # the same pattern twice is kept once
    revoked = await make_credential(owner, domain="admin.example")
    await make_credential(owner, domain="")
    await credentials_service.revoke(ctx, owner.principal, revoked.client_id)
    now = clock()
    assert not await cors.any_client_allows(ctx, "https://admin.example", now)
    assert await cors.any_client_allows(ctx, "https://a.shop.example", now)
    assert await cors.any_client_allows(ctx, "https://www.pay.example", now)
    assert not await cors.any_client_allows(ctx, "https://evil.example", now)
    assert not await cors.any_client_allows(ctx, "https://a.shop.example.evil.example", now)
    index = ctx.extras["all_clients"]
    assert isinstance(index, cors.OriginIndex)
    assert len([p for p in index._patterns if p.host == "shop.example"]) == 1


async def test_a_client_created_later_is_seen_after_the_ttl(ctx, clock, make_credential):
    now = clock()
    assert not await cors.any_client_allows(ctx, "https://late.example", now)
    await make_credential(domain="late.example")
    assert not await cors.any_client_allows(ctx, "https://late.example", now + 1)  # cached answer
    assert await cors.any_client_allows(ctx, "https://late.example", now + cors.ALL_ORIGINS_TTL + 0.1)
