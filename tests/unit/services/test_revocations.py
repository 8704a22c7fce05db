"""The per-worker revocation cache: bounded staleness, immediate in the revoking worker."""

from __future__ import annotations

from keyturn.services.revocations import RevocationCache
from keyturn.storage import grants as grants_repo


async def test_a_revoked_jti_is_seen_within_the_ttl_and_at_once_after_invalidate(ctx, clock):
    cache = RevocationCache(ctx.engine, 1.0, ctx.settings.access_token_ttl)
    claims = {"jti": "j1", "gid": None}
    assert not await cache.is_revoked(claims, clock())
    async with ctx.engine.begin() as conn:
        await grants_repo.revoke_access_tokens(conn, {"j1": clock() + 3600})
    assert not await cache.is_revoked(claims, clock())  # cached for up to 1 s
    clock.advance(1.0)
    assert await cache.is_revoked(claims, clock())
    async with ctx.engine.begin() as conn:
        await grants_repo.revoke_access_tokens(conn, {"j2": clock() + 3600})
    cache.invalidate()
    assert await cache.is_revoked({"jti": "j2"}, clock())


async def test_revoked_grants_count_only_while_their_tokens_can_live(ctx, clock, client, make_credential):
    cred = await make_credential(refresh="1d")
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    import jwt
    gid = jwt.decode(r.json()["access_token"], options={"verify_signature": False})["gid"]
    cache = RevocationCache(ctx.engine, 0.0, ctx.settings.access_token_ttl)
    assert not await cache.is_revoked({"gid": gid}, clock())
    async with ctx.engine.begin() as conn:
        await grants_repo.revoke_grants(conn, [gid], clock(), "test")
    assert await cache.is_revoked({"gid": gid}, clock())
    clock.advance(ctx.settings.access_token_ttl + 600)
    assert not await cache.is_revoked({"gid": gid}, clock())  # every token of it has expired
