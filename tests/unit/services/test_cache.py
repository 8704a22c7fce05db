"""The per-worker TTL cache: single flight on a miss, no stale value cached across an invalidate."""

from __future__ import annotations

import asyncio

import pytest

from keyturn.services.cache import TTLCache


async def test_concurrent_misses_share_one_load():
    cache: TTLCache[int] = TTLCache(1.0)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 7

    assert await asyncio.gather(*(cache.get("k", 0.0, load) for _ in range(50))) == [7] * 50
    assert calls == 1
    assert await cache.get("k", 0.5, load) == 7 and calls == 1
    assert await cache.get("k", 1.0, load) == 7 and calls == 2  # expired


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached():
    cache: TTLCache[int] = TTLCache(1.0)

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("db down")

    results = await asyncio.gather(*(cache.get("k", 0.0, boom) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> int:
        return 1

    assert await cache.get("k", 0.0, ok) == 1


async def test_a_load_racing_an_invalidate_is_not_cached():
    cache: TTLCache[str] = TTLCache(10.0)
    values = iter(["stale", "fresh"])

    async def load() -> str:
        value = next(values)
        cache.invalidate("k")  # e.g. the credential was revoked while we read it
        return value

    assert await cache.get("k", 0.0, load) == "stale"
    assert await cache.get("k", 0.0, load) == "fresh"


@pytest.mark.parametrize("size", [3])
async def test_bounded_by_dropping_the_oldest(size):
    cache: TTLCache[int] = TTLCache(10.0, max_entries=size)
    for i in range(5):
        async def load(i: int = i) -> int:
            return i
        await cache.get(f"k{i}", 0.0, load)
    assert len(cache._data) == size and "k4" in cache._data and "k0" not in cache._data
