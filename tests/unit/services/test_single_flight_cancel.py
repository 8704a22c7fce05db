"""services/cache.py: a shared load whose leader is cancelled (its request went away) leaves no flight behind:
the waiters are told, and the next caller loads afresh instead of waiting forever."""

from __future__ import annotations

import asyncio

import pytest

from keyturn.services.cache import SingleFlight, TTLCache


async def test_a_cancelled_leader_releases_the_flight():
    flight = SingleFlight()
    started = asyncio.Event()

    async def slow() -> int:
        started.set()
        await asyncio.sleep(60)
        return 1

    leader = asyncio.create_task(flight.run("k", slow))
    await started.wait()
    follower = asyncio.create_task(flight.run("k", slow))
    await asyncio.sleep(0)
    assert flight.busy("k")
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(follower, 1)
    assert not flight.busy("k")

    async def quick() -> int:
        return 2

    assert await asyncio.wait_for(flight.run("k", quick), 1) == 2


async def test_a_cancelled_load_is_not_cached():
    cache: TTLCache[int] = TTLCache(10.0)

    async def hang() -> int:
        await asyncio.sleep(60)
        return 1

    task = asyncio.create_task(cache.get("k", 0.0, hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def load() -> int:
        return 5

    assert await cache.get("k", 0.0, load) == 5
