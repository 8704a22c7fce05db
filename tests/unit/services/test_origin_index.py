"""The origin index answers "does any active client allow this origin?" without a query per request."""

from __future__ import annotations

from keyturn.services import credentials as credentials_service
from keyturn.services.origin_index import ALL_ORIGINS_TTL


async def test_the_index_holds_active_credentials_patterns_once(ctx, clock, make_user, make_credential):
    owner = await make_user()
    await make_credential(owner, domain="*.shop.example www.pay.example")
    await make_credential(owner, domain="*.shop.example")  # the same pattern twice is kept once
    revoked = await make_credential(owner, domain="admin.example")
    await make_credential(owner, domain="")
    await credentials_service.revoke(ctx, owner.principal, revoked.client_id)
    now = clock()
    assert not await ctx.origins.allows("https://admin.example", now)
    assert await ctx.origins.allows("https://a.shop.example", now)
    assert await ctx.origins.allows("https://www.pay.example", now)
    assert not await ctx.origins.allows("https://evil.example", now)
    assert not await ctx.origins.allows("https://a.shop.example.evil.example", now)
    assert len([p for p in ctx.origins._patterns if p.host == "shop.example"]) == 1


async def test_a_client_created_later_is_seen_after_the_ttl(ctx, clock, make_credential):
    now = clock()
    assert not await ctx.origins.allows("https://late.example", now)
    await make_credential(domain="late.example")
    assert not await ctx.origins.allows("https://late.example", now + 1)  # cached answer
    assert await ctx.origins.allows("https://late.example", now + ALL_ORIGINS_TTL + 0.1)
