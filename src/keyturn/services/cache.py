"""A small per-worker TTL cache. Its TTL bounds how long a revocation takes to reach other workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 10000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: dict[str, tuple[float, V | None]] = {}
        self._loading: dict[str, asyncio.Future[V | None]] = {}
        self._generation = 0  # bumped by invalidate(): a load that raced it is not cached

    async def get(self, key: str, now: float, load: Callable[[], Awaitable[V | None]]) -> V | None:
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:  # single flight: concurrent misses share one load (no stampede)
            return await asyncio.shield(pending)
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
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
            del self._loading[key]
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
