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
    """The issuer's keys by ``kid``, as a resource server holds them.

    - **Age:** keys fetched more than ``max_age`` seconds ago are refetched before use, whatever the
      cooldown (a planned rotation pre-publishes the next key at least ``max_age`` + 5 s before it signs:
      docs/tokens.md). If that fetch fails the cached keys keep serving (RS independence), and the next
      attempt waits ``min(cooldown, max_age)``.
    - **Unknown kid:** a token naming a key we do not hold triggers a refetch at most once per
      ``min(cooldown, max_age)`` seconds (junk tokens cannot make us storm the issuer).
    - **Single flight:** concurrent callers that find the cache due wait for one fetch, then re-check.
    """

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

    @property
    def interval(self) -> float:
        """The least time between two fetches not forced by age: ``min(cooldown, max_age)``."""
        return min(self.cooldown, self.max_age)

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

    def _rested(self, now: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= self.interval

    def _stale(self, now: float) -> bool:
        """Never fetched, or older than ``max_age`` (and no failed attempt within ``interval``)."""
        if self._fetched_at is None:
            return True
        return now - self._fetched_at >= self.max_age and (self._last_attempt == self._fetched_at
                                                           or self._rested(now))

    async def _fetch_if(self, due: Callable[[float], bool]) -> None:
        async with self._lock:  # single flight: whoever waited re-checks what the fetch before it changed
            now = self._clock()
            if not due(now):
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

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch now if ``force`` or if no fetch was attempted within ``interval``."""
        await self._fetch_if(lambda now: force or self._rested(now))

    async def key(self, kid: str) -> tuple[str, Any] | None:
        if self._stale(self._clock()):
            await self._fetch_if(self._stale)
        found = self._keys.get(kid)
        if found is None:
            await self._fetch_if(lambda now: kid not in self._keys and self._rested(now))
            found = self._keys.get(kid)
        return found
