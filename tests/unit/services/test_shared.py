"""services/shared.py: sliding windows, the replay cache and change notices, in process and in the real Redis
(a prefix of the test's own), and what happens when Redis refuses connections or is frozen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from keyturn.core.errors import TemporarilyUnavailable
from keyturn.services import shared as shared_module
from keyturn.services.shared import MAX_KEYS, LocalWindows, Shared, SharedUnavailable
from tests.conftest import Clock
from tests.redisproc import REDIS_URL, RedisProcess, redis_prefix, redis_process, unused_port_url

__all__ = ["redis_prefix", "redis_process"]  # fixtures


@pytest.fixture(params=["local", "redis"])
async def shared(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Shared]:
    if request.param == "local":
        s = Shared(None, clock=clock)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        s = Shared(REDIS_URL, prefix, 0.5, clock=clock)
    yield s
    await s.close()


async def test_a_window_refuses_past_the_limit_and_says_when(shared: Shared, clock: Clock) -> None:
    clock.now = 1_000_000.0
    assert await shared.take("t", "u", 2, 3600.0) is None
    clock.advance(10)
    assert await shared.take("t", "u", 2, 3600.0) is None
    clock.advance(10)
    assert await shared.take("t", "u", 2, 3600.0) == 3580  # nothing counted while refused
    assert await shared.take("t", "other", 2, 3600.0) is None
    clock.advance(3580.5)
    assert await shared.take("t", "u", 2, 3600.0) is None  # the first left the window


async def test_a_given_back_slot_counts_no_more(shared: Shared, clock: Clock) -> None:
    assert await shared.take("t", "u", 1, 60.0, member="a") is None
    await shared.give_back("t", "u", "a")
    assert await shared.take("t", "u", 1, 60.0, member="b") is None
    await shared.give_back("t", "u", "zzz")  # not a slot it took: nothing changes
    await shared.give_back("t", "nobody", "b")
    assert await shared.take("t", "u", 1, 60.0) == 60


async def test_failures_count_whatever_the_window_holds_and_peek_counts_nothing(shared: Shared,
                                                                                clock: Clock) -> None:
    assert await shared.peek("f", "k", 2, 60.0) is None
    await shared.add("f", "k", 2, 60.0)
    clock.advance(30)
    await shared.add("f", "k", 2, 60.0)
    assert await shared.peek("f", "k", 2, 60.0) == 30  # until the oldest failure is 60 s old
    for _ in range(5):
        await shared.add("f", "k", 2, 60.0)  # only the newest two are kept
    assert await shared.peek("f", "k", 2, 60.0) == 60
    clock.advance(60.5)
    assert await shared.peek("f", "k", 2, 60.0) is None


async def test_seen_answers_a_replay_within_its_ttl(shared: Shared, clock: Clock) -> None:
    assert await shared.seen("jti-1", 30) is False
    assert await shared.seen("jti-1", 30) is True
    assert await shared.seen("jti-2", 30) is False
    assert await shared.first_use("jti-3", 30) is True and await shared.first_use("jti-3", 30) is False


async def test_two_processes_share_one_window_through_redis(redis_prefix: str, clock: Clock) -> None:
    a, b = Shared(REDIS_URL, redis_prefix, 0.5, clock=clock), Shared(REDIS_URL, redis_prefix, 0.5, clock=clock)
    try:
        results = await asyncio.gather(*(s.take("q", "c", 10, 60.0) for s in (a, b) for _ in range(15)))
        assert sum(r is None for r in results) == 10  # one limit for both, atomically counted
        assert await a.seen("x", 5) is False and await b.seen("x", 5) is True
    finally:
        await a.close()
        await b.close()


async def test_notices_reach_every_listener(redis_prefix: str) -> None:
    a, b = Shared(REDIS_URL, redis_prefix, 0.5), Shared(REDIS_URL, redis_prefix, 0.5)
    got: list[tuple[str, str | None]] = []
    arrived = asyncio.Event()

    def handler(kind: str, key: str | None) -> None:
        got.append((kind, key))
        if kind != "*":
            arrived.set()
    try:
        b.listen(handler)
        for _ in range(100):  # subscribed: the first thing a listener does is drop everything ("*")
            if got:
                break
            await asyncio.sleep(0.02)
        assert got == [("*", None)]
        started = time.perf_counter()
        a.publish("client", "c1")
        await asyncio.wait_for(arrived.wait(), 2)
        assert got[-1] == ("client", "c1") and time.perf_counter() - started < 0.5
    finally:
        await a.close()
        await b.close()


async def test_without_redis_nothing_is_published_and_nobody_listens(clock: Clock) -> None:
    s = Shared(None, clock=clock)
    s.publish("client", "c1")
    s.listen(lambda kind, key: None)
    assert not s.shared and s._listener is None
    await s.close()


def _timed(loop_fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    loop_fn()
    return time.perf_counter() - started


async def test_redis_refusing_connections_limits_count_in_process_and_replays_fail_closed(clock: Clock) -> None:
    s = Shared(unused_port_url(), "keyturn-h-redis:", 0.25, clock=clock)
    try:
        started = time.perf_counter()
        assert await s.take("t", "u", 1, 60.0) is None  # counted here, in this process
        assert await s.take("t", "u", 1, 60.0) == 60
        assert time.perf_counter() - started < 0.5
        assert not s.shared  # the circuit is open: no Redis call for a second
        with pytest.raises(SharedUnavailable):
            await s.seen("jti", 30)
        with pytest.raises(TemporarilyUnavailable) as refused:  # a replay cache fails closed: 503
            await s.first_use("jti", 30)
        assert refused.value.status_code == 503 and refused.value.retry_after == 1
        s.publish("client", "c")  # dropped (the others poll)
        s._open_until = 0.0  # the breaker's second has passed: Redis is tried again, and fails again
        with pytest.raises(SharedUnavailable):
            await s.seen("jti", 30)
        s._open_until = 0.0
        s.publish("client", "c")
        await asyncio.sleep(0.3)
        assert not s.shared
    finally:
        await s.close()


@pytest.mark.faults
async def test_a_frozen_redis_delays_no_request_past_its_timeout(redis_process: RedisProcess, clock: Clock,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_module, "BREAKER_SECONDS", 0.5)
    s = Shared(redis_process.url, "keyturn-h-redis:", 0.25, clock=clock)
    listener_calls: list[str] = []
    s.listen(lambda kind, key: listener_calls.append(kind))
    try:
        assert await s.take("t", "u", 100, 60.0) is None and s.shared
        redis_process.freeze()
        worst = 0.0
        refused = 0
        deadline = time.perf_counter() + 2.0
        while time.perf_counter() < deadline:  # ~2 s of calls against the frozen server
            started = time.perf_counter()
            await s.take("t", "u", 100, 60.0)
            try:
                await s.seen(f"j{time.perf_counter()}", 30)
            except SharedUnavailable:
                refused += 1
            worst = max(worst, time.perf_counter() - started)
            await asyncio.sleep(0.01)
        assert worst < 0.25 + 0.2, worst  # one bounded Redis call at most per breaker period
        assert refused > 10
        redis_process.thaw()
        await asyncio.sleep(0.6)  # the breaker's period passes: Redis again
        assert await s.seen("after", 30) is False and s.shared
    finally:
        redis_process.thaw()
        await s.close()
    print(f"frozen Redis: slowest call {worst * 1000:.0f} ms over 2 s ({refused} replay checks answered 503)")


@pytest.mark.faults
async def test_notices_resume_after_a_redis_restart_and_bad_notices_are_ignored(
        redis_process: RedisProcess, caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio as aioredis
    s = Shared(redis_process.url, "keyturn-h-redis:", 0.25)
    got: list[tuple[str, str | None]] = []
    s.listen(lambda kind, key: got.append((kind, key)))
    s.listen(lambda kind, key: None)  # one subscriber per process: a second call changes nothing

    async def until(cond: Callable[[], bool], seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while not cond():
            assert time.perf_counter() < deadline, got
            await asyncio.sleep(0.02)
    try:
        await until(lambda: got == [("*", None)], 3)
        raw = aioredis.Redis.from_url(redis_process.url)
        await raw.publish("keyturn-h-redis:changes", "not json")
        await raw.publish("keyturn-h-redis:changes", '{"no": "kind"}')
        await raw.aclose()
        s.publish("api_key")
        await until(lambda: ("api_key", None) in got, 3)
        assert "ignored a malformed change notice" in caplog.text
        redis_process.stop()
        await asyncio.sleep(0.3)
        redis_process.start()  # the same port: the subscriber reconnects and drops everything once more
        await until(lambda: got.count(("*", None)) == 2, 8)
        for _ in range(10):  # the publisher's pooled connection died with the server: a call or two may fail
            s._open_until = 0.0
            s.publish("client", "c9")
            await asyncio.sleep(0.3)
            if ("client", "c9") in got:
                break
        assert ("client", "c9") in got
        assert "change notices interrupted" in caplog.text
        await s.give_back("t", "u", "m")  # Redis answers: nothing to give back
        redis_process.stop()
        s._open_until = 0.0
        await s.give_back("t", "u", "m")  # Redis gone: best effort, no error
        assert not s.shared
    finally:
        await s.close()


def test_local_windows_stay_bounded() -> None:
    w = LocalWindows()
    for i in range(MAX_KEYS + 10):
        w.window(f"spray{i}", 3, 60.0, 100.0, "add")
    assert len(w._events) <= MAX_KEYS
    for i in range(MAX_KEYS + 10):
        w.seen(f"j{i}", 60.0, 100.0)
    assert len(w._seen) <= MAX_KEYS
    w1 = LocalWindows()
    for i in range(MAX_KEYS):
        w1.seen(f"j{i}", 60.0, 100.0)
    w1.seen("late", 60.0, 1000.0)  # past the bound: expired entries go first
    assert list(w1._seen) == ["late"]
    w2 = LocalWindows()
    for i in range(MAX_KEYS):
        w2.window(f"k{i}", 3, 60.0, 100.0, "take")
    w2.window("new", 3, 60.0, 500.0, "take")  # expired windows are forgotten first
    assert list(w2._events) == ["new"]
