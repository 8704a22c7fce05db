"""Per-worker caches. Their TTL bounds how long a revocation takes to reach other workers.

Every reload here is *single flight*: when a cache entry (or a whole cached list)
falls due while many requests are in flight, one of them loads it and the others
await that same load. Without this, a busy worker sends one query per in-flight
request at each expiry (a stampede), exhausts its connection pool, and every
request waits: the p99 latency of the hot paths goes from milliseconds to hundreds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from keyturn import metrics

T = TypeVar("T")
V = TypeVar("V")


class SingleFlight:
    """Concurrent calls for one key share one running load; the first caller runs it."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    def busy(self, key: Hashable) -> bool:
        return key in self._running

    async def run(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        pending = self._running.get(key)
        if pending is not None:
            result: T = await asyncio.shield(pending)
            return result
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await load()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as unhandled
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(value)
        finally:
            del self._running[key]
        return value


class TTLCache(Generic[V]):
    """Values by key for ``ttl`` seconds; each lookup counts as a hit or a miss of cache ``name``
    (``keyturn_cache_lookups_total``)."""

    def __init__(self, ttl: float, max_entries: int = 10000, name: str = "other") -> None:
        self.ttl = ttl
        self._hits = metrics.CACHE_LOOKUPS.labels(name, "hit")
        self._misses = metrics.CACHE_LOOKUPS.labels(name, "miss")
        self.max_entries = max_entries
        self._data: dict[str, tuple[float, V | None]] = {}
        self._flights = SingleFlight()
        self._generation = 0  # bumped by invalidate(): a load that raced it is not cached

    async def get(self, key: str, now: float, load: Callable[[], Awaitable[V | None]]) -> V | None:
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            self._hits.inc()
            return hit[1]
        self._misses.inc()
        if self._flights.busy(key):
            return await self._flights.run(key, load)
        generation = self._generation
        value = await self._flights.run(key, load)
        if self.ttl > 0 and generation == self._generation:
            if len(self._data) >= self.max_entries:
                self._data.pop(next(iter(self._data)))  # oldest first
            self._data[key] = (now + self.ttl, value)
        return value

    def invalidate(self, key: str | None = None) -> None:
        self._generation += 1
        if key is None:
            self._data.clear()
        else:
            self._data.pop(key, None)
