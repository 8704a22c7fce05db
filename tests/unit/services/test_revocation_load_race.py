"""services/revocations.py: lists read before a revocation was committed are not kept as current."""

from __future__ import annotations

from typing import Any

import pytest

from keyturn.services.revocations import RevocationCache
from keyturn.storage import grants as grants_repo


async def test_a_load_that_raced_a_revocation_is_discarded(ctx, clock, monkeypatch: pytest.MonkeyPatch):
    cache = RevocationCache(ctx.engine, 60.0, ctx.settings.access_token_ttl)
    real = grants_repo.revoked_jtis
    raced: list[bool] = []

    async def revoked_jtis_then_a_revocation(conn: Any, now: float) -> frozenset[str]:
        jtis = await real(conn, now)
        if not raced:  # another request of this worker revokes j1 while this load is on its way
            raced.append(True)
            cache.invalidate()
        return jtis

    monkeypatch.setattr(grants_repo, "revoked_jtis", revoked_jtis_then_a_revocation)
    assert not await cache.is_revoked({"jti": "j1"}, clock())
    async with ctx.engine.begin() as conn:
        await grants_repo.revoke_access_tokens(conn, {"j1": clock() + 3600})
    assert await cache.is_revoked({"jti": "j1"}, clock())  # the raced load was not kept for 60 s
