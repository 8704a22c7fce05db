"""A cached JWKS: refetched on an unknown ``kid`` with a cooldown, stale keys kept on fetch failure."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from keyturn.core.jose import ALLOWED_ALGS

Fetcher = Callable[[str], Awaitable[bytes]]


class JWKSUnavailable(Exception):
    """No keys could be obtained (never fetched successfully)."""


async def _httpx_fetch(url: str) -> bytes:
    import httpx

    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        r = await client.get(url)
        r.raise_for_status()
        return r.content


class JWKSCache:
    def __init__(self, url: str, *, max_age: float = 300.0, cooldown: float = 30.0,
                 fetch: Fetcher | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.max_age = max_age
        self.cooldown = cooldown
        self._fetch = fetch or _httpx_fetch
        self._clock = clock
        self._keys: dict[str, tuple[str, Any]] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()

    def _parse(self, raw: bytes) -> dict[str, tuple[str, Any]]:
        data = json.loads(raw)
        keys: dict[str, tuple[str, Any]] = {}
        for jwk in data.get("keys", []):
            kid, alg = jwk.get("kid"), jwk.get("alg")
            if not isinstance(kid, str) or alg not in ALLOWED_ALGS or jwk.get("use", "sig") != "sig":
                continue
            if any(m in jwk for m in ("d", "p", "q", "k")):
                continue  # never accept private or symmetric material as a verification key
            keys[kid] = (alg, jwt.PyJWK(jwk, algorithm=alg).key)
        return keys

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            now = self._clock()
            if not force and self._last_attempt is not None and now - self._last_attempt < self.cooldown:
                return
            self._last_attempt = now
            try:
                keys = self._parse(await self._fetch(self.url))
            except Exception:  # noqa: BLE001 - keep serving the cached keys (RS independence)
                if self._fetched_at is None:
                    raise JWKSUnavailable(f"cannot fetch {self.url}") from None
                return
            self._keys = keys
            self._fetched_at = now

    async def key(self, kid: str) -> tuple[str, Any] | None:
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at > self.max_age:
            await self.refresh(force=self._fetched_at is None)
        found = self._keys.get(kid)
        if found is None:
            await self.refresh()
            found = self._keys.get(kid)
        return found
