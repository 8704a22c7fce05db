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

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn import metrics
from keyturn.services.cache import SingleFlight
from keyturn.storage import grants as grants_repo

MARGIN = 120.0  # seconds of clock skew and in-flight issuance tolerated beyond the token lifetime


class RevocationCache:
    def __init__(self, engine: AsyncEngine, ttl: float, token_ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self.token_ttl = token_ttl
        self._loaded_until = 0.0
        self._jtis: frozenset[str] = frozenset()
        self._grants: frozenset[str] = frozenset()
        self._flight = SingleFlight()
        self._generation = 0  # bumped by invalidate(): a load that started before it does not count
        self._hits = metrics.CACHE_LOOKUPS.labels("revocations", "hit")
        self._misses = metrics.CACHE_LOOKUPS.labels("revocations", "miss")

    def invalidate(self) -> None:
        self._generation += 1
        self._loaded_until = 0.0

    async def _load(self, now: float) -> None:
        generation = self._generation
        horizon = now - self.token_ttl - MARGIN
        async with self.engine.connect() as conn:
            loaded = await grants_repo.revoked_jtis(conn, now), await grants_repo.grants_revoked_since(conn, horizon)
        if generation == self._generation:  # else a revocation came meanwhile: a newer load counts
            self._jtis, self._grants = loaded
            self._loaded_until = now + self.ttl

    async def is_revoked(self, claims: dict[str, Any], now: float) -> bool:
        if now >= self._loaded_until or self.ttl == 0:
            self._misses.inc()
            # One load per expiry for all in-flight requests; a revocation here starts a new one.
            await self._flight.run(self._generation, lambda: self._load(now))
        else:
            self._hits.inc()
        return claims.get("jti") in self._jtis or claims.get("gid") in self._grants
