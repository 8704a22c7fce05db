"""services/origin_index.py: a stored domain that no longer parses allows nothing (fail closed); memory is bounded."""

from __future__ import annotations

from keyturn.services import origin_index
from keyturn.services.origin_index import ALL_ORIGINS_TTL, OriginIndex, _credential_patterns
from keyturn.storage import clients as clients_repo


async def test_a_stored_domain_that_no_longer_parses_allows_no_origin(ctx, clock, make_credential):
    """E.g. the bundled Public Suffix List grew and ``*.shop.example`` became a wildcard over a public suffix."""
    cred = await make_credential(domain="*.shop.example")
    async with ctx.engine.begin() as conn:
        await clients_repo.update_fields(conn, cred.client_id, domain="*.com www.shop.example")
    index = OriginIndex(ctx.engine)
    for origin in ("https://a.com", "https://www.shop.example", "https://a.shop.example"):
        assert not await index.allows(origin, clock()), origin
    assert _credential_patterns("*.com www.shop.example") == ()


async def test_answers_are_remembered_until_the_next_rebuild_within_a_bound(ctx, clock, make_credential):
    await make_credential(domain="*.shop.example")
    index = OriginIndex(ctx.engine)
    index.MAX_ANSWERS = 2
    now = clock()
    hosts = ("a.shop.example", "evil.example", "b.shop.example")
    answers = [await index.allows(f"https://{host}", now) for host in hosts]
    assert answers == [True, False, True] and len(index._answers) <= 2
    assert await index.allows("https://a.shop.example", now + ALL_ORIGINS_TTL)


def test_the_parsed_pattern_memo_is_bounded():
    for i in range(10_005):
        _credential_patterns(f"shop{i}.example")
    assert len(origin_index._patterns) <= 10_001
    assert _credential_patterns("shop1.example")[0].host == "shop1.example"
