"""Revocation state of access tokens, cached per worker.

JWT access tokens are checked against two lists on introspection and at
Keyturn's own API: revoked ``jti``s (RFC 7009 revocation of an access token)
and revoked grants (refresh-token reuse, code replay, credential revocation,
logout). Both lists are loaded into memory at most once per
``client_cache_ttl`` seconds (default 1 s), so a revocation reaches every worker
within that bound, and the worker that revoked sees it at once (``invalidate``).
A grant revoked longer ago than the access-token lifetime can no longer have a
live access token, so the lists stay small.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from keyturn.services.context import Context
from keyturn.storage.tables import grants, revoked_tokens

MARGIN = 120.0  # seconds of clock skew and in-flight issuance tolerated beyond the token lifetime


class RevocationCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._loaded_until = 0.0
        self._jtis: frozenset[str] = frozenset()
        self._grants: frozenset[str] = frozenset()

    def invalidate(self) -> None:
        self._loaded_until = 0.0

    async def _load(self, ctx: Context, now: float) -> None:
        horizon = now - ctx.settings.access_token_ttl - MARGIN
        async with ctx.engine.connect() as conn:
            jtis = (await conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.expires_at > now))).scalars()
            self._jtis = frozenset(jtis)
            ids = (await conn.execute(select(grants.c.id).where(grants.c.revoked_at.is_not(None),
                                                                grants.c.revoked_at > horizon))).scalars()
            self._grants = frozenset(ids)
        self._loaded_until = now + self.ttl

    async def is_revoked(self, ctx: Context, claims: dict[str, Any], now: float) -> bool:
        if now >= self._loaded_until or self.ttl == 0:
            await self._load(ctx, now)
        return claims.get("jti") in self._jtis or claims.get("gid") in self._grants


def install(ctx: Context) -> RevocationCache:
    cache = RevocationCache(ctx.settings.client_cache_ttl)
    ctx.extras["revocation_cache"] = cache
    ctx.extras["revocation_check"] = cache.is_revoked
    return cache
