"""State shared by every worker and node: sliding-window limits, a replay cache, change notices.

One object per process, :class:`Shared`. With ``KEYTURN_REDIS_URL`` set it keeps its state in Redis
(keys under ``KEYTURN_REDIS_PREFIX``), so a limit counts the requests of all workers and nodes; without
it everything stays in this process (one worker's view).

- ``take(name, key, limit, window)``: count an event in a sliding window, or answer the seconds to wait
  (nothing counted). In Redis one Lua script on a sorted set: atomic, one round trip.
- ``peek`` / ``add``: the same window read without counting / counted unconditionally (failure counters:
  refuse while ``limit`` failures are in the window; each failure counts).
- ``seen(key, ttl)``: True if ``key`` was already seen within ``ttl`` seconds (``SET NX PX``), for the
  DPoP ``jti`` and client-assertion replay caches.
- ``publish(kind, key)`` / ``listen(handler)``: change notices (pub/sub) so every node drops a cached
  record or list at once instead of waiting for its poll.

Redis trouble never blocks a request for longer than ``KEYTURN_REDIS_TIMEOUT``: a failed or slow call
opens a circuit for :data:`BREAKER_SECONDS`, during which limits count in process (per-process limits
are weaker, never absent), ``seen`` raises :class:`SharedUnavailable` (a replay cache that cannot
answer must refuse: the caller answers 503), and notices are not sent (every node still polls, so the
change arrives within ``client_cache_ttl``). The circuit closes at the first call that succeeds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from keyturn import metrics
from keyturn.core.errors import TemporarilyUnavailable

log = logging.getLogger("keyturn.shared")

BREAKER_SECONDS = 1.0  # after a Redis failure, how long limits stay in process before Redis is tried again
MAX_KEYS = 50_000  # in-process windows kept (then the emptied ones, then the oldest half, are forgotten)
CHANNEL = "changes"

# KEYS[1] the window; ARGV: now (ms), window (ms), limit, mode (take | peek | add), member.
# Answers -1 (room: counted unless peek) or the milliseconds until the oldest event leaves the window.
_WINDOW_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local mode = ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if mode == 'add' then
  redis.call('ZADD', key, now, ARGV[5])
  redis.call('ZREMRANGEBYRANK', key, 0, -(limit + 1))
  redis.call('PEXPIRE', key, window)
  return -1
end
local n = redis.call('ZCARD', key)
if n >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
if mode == 'take' then
  redis.call('ZADD', key, now, ARGV[5])
  redis.call('PEXPIRE', key, window)
end
return -1
"""


class SharedUnavailable(Exception):
    """Redis is configured but cannot answer now (a fail-closed caller answers 503)."""


def _wait(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class LocalWindows:
    """The in-process form of the windows and the replay cache (also Redis's fallback)."""

    def __init__(self) -> None:
        self._events: dict[str, deque[tuple[float, str]]] = {}
        self._seen: dict[str, float] = {}

    def window(self, key: str, limit: int, window: float, now: float, mode: str, member: str = "") -> int | None:
        events = self._events.get(key)
        if events is None:
            if mode == "peek":
                return None
            if len(self._events) >= MAX_KEYS:
                self._prune(now, window)
            events = self._events[key] = deque()
        while events and events[0][0] <= now - window:
            events.popleft()
        if mode == "add":
            events.append((now, member))
            while len(events) > limit:
                events.popleft()
            return None
        if len(events) >= limit:
            return _wait(events[0][0] + window - now)
        if mode == "take":
            events.append((now, member))
        return None

    def give_back(self, key: str, member: str) -> None:
        events = self._events.get(key)
        for event in list(events or ()):
            if event[1] == member:
                events.remove(event)  # type: ignore[union-attr]

    def _prune(self, now: float, window: float) -> None:
        for k in [k for k, e in self._events.items() if not e or e[-1][0] <= now - window]:
            del self._events[k]
        if len(self._events) >= MAX_KEYS:
            for k in sorted(self._events, key=lambda k: self._events[k][-1][0])[: MAX_KEYS // 2]:
                del self._events[k]

    def seen(self, key: str, ttl: float, now: float) -> bool:
        until = self._seen.get(key)
        if until is not None and until > now:
            return True
        if len(self._seen) >= MAX_KEYS:
            for k in [k for k, u in self._seen.items() if u <= now]:
                del self._seen[k]
            if len(self._seen) >= MAX_KEYS:  # every entry live: the oldest half goes (bounded memory)
                for k in list(self._seen)[: MAX_KEYS // 2]:
                    del self._seen[k]
        self._seen[key] = now + ttl
        return False


class Shared:
    """Limits, replay cache and change notices: in Redis when ``url`` is set, else in this process."""

    def __init__(self, url: str | None, prefix: str = "keyturn:", timeout: float = 0.25,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.clock = clock
        self.local = LocalWindows()
        self._open_until = 0.0  # circuit open (Redis skipped) until this monotonic time
        self._redis: Any = None
        self._script: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False
        self._origin = f"{os.getpid()}-{id(self):x}"
        self._serial = itertools.count()
        if url:
            import redis.asyncio as aioredis
            self._redis = aioredis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False,
                health_check_interval=0, decode_responses=True)
            self._script = self._redis.register_script(_WINDOW_LUA)

    @property
    def shared(self) -> bool:
        """Whether limits are shared right now (Redis configured and its circuit closed)."""
        return self._redis is not None and time.monotonic() >= self._open_until

    async def _call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """One Redis call bounded by the timeout; a failure opens the circuit and raises SharedUnavailable."""
        if not self.shared:
            raise SharedUnavailable("redis circuit open")
        try:
            return await asyncio.wait_for(make(), self.timeout)
        except Exception as exc:  # timeouts, refused connections, protocol errors: all the same to callers
            if time.monotonic() >= self._open_until:
                log.warning("redis unavailable (%s); limits in process for %.0f s", type(exc).__name__,
                            BREAKER_SECONDS)
            self._open_until = time.monotonic() + BREAKER_SECONDS
            metrics.REDIS_ERRORS.inc()
            raise SharedUnavailable(type(exc).__name__) from None

    async def _window(self, name: str, key: str, limit: int, window: float, mode: str,
                      member: str | None = None) -> int | None:
        now = self.clock()
        full = f"{self.prefix}rl:{name}:{key}"
        member = member or f"{now:.6f}:{self._origin}:{next(self._serial)}"
        if self._redis is not None and self.shared:
            try:
                ms = await self._call(lambda: self._script(
                    keys=[full], args=[int(now * 1000), int(window * 1000), limit, mode, member]))
            except SharedUnavailable:
                pass
            else:
                return None if int(ms) < 0 else _wait(int(ms) / 1000)
        return self.local.window(full, limit, window, now, mode, member)

    async def take(self, name: str, key: str, limit: int, window: float, member: str | None = None) -> int | None:
        """Count an event (None) or answer the whole seconds to wait (nothing counted). ``member`` names the
        event for :meth:`give_back`."""
        return await self._window(name, key, limit, window, "take", member)

    async def give_back(self, name: str, key: str, member: str) -> None:
        """Uncount the event ``member`` (the action it guarded failed); best effort."""
        full = f"{self.prefix}rl:{name}:{key}"
        self.local.give_back(full, member)
        if self._redis is not None and self.shared:
            try:
                await self._call(lambda: self._redis.zrem(full, member))
            except SharedUnavailable:
                pass

    async def peek(self, name: str, key: str, limit: int, window: float) -> int | None:
        """The seconds to wait if ``limit`` events are in the window, else None; counts nothing."""
        return await self._window(name, key, limit, window, "peek")

    async def add(self, name: str, key: str, limit: int, window: float) -> None:
        """Count an event whatever the window holds (only the newest ``limit`` are kept)."""
        await self._window(name, key, limit, window, "add")

    async def seen(self, key: str, ttl: float) -> bool:
        """True if ``key`` was seen within ``ttl`` s (a replay); else remember it. Redis down: SharedUnavailable."""
        if self._redis is None:
            return self.local.seen(key, ttl, self.clock())
        full = f"{self.prefix}seen:{key}"
        fresh = await self._call(lambda: self._redis.set(full, "1", nx=True, px=max(1, int(ttl * 1000))))
        return not fresh

    async def first_use(self, key: str, ttl: float) -> bool:
        """For a replay cache (DPoP ``jti``, client assertions): True the first time ``key`` is presented within
        ``ttl`` s, False for a replay. Fails closed: when Redis cannot answer, 503 ``temporarily_unavailable``
        with ``Retry-After`` (a value no node can rule out as a replay is not accepted)."""
        try:
            return not await self.seen(key, ttl)
        except SharedUnavailable:
            raise TemporarilyUnavailable("the replay check is unavailable; retry shortly",
                                         retry_after=max(1, math.ceil(BREAKER_SECONDS))) from None

    # -- change notices ---------------------------------------------------------------------------------
    def publish(self, kind: str, key: str | None = None) -> None:
        """Tell every node that ``kind`` (``client``, ``api_key``, ``revocation``) changed; never waits."""
        if self._redis is None or not self.shared:
            return
        message = json.dumps({"kind": kind, "key": key, "from": self._origin})
        task = asyncio.get_running_loop().create_task(self._publish(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, message: str) -> None:
        try:
            await self._call(lambda: self._redis.publish(self.prefix + CHANNEL, message))
        except SharedUnavailable:
            pass  # the other nodes' polling carries the change

    def listen(self, handler: Callable[[str, str | None], None]) -> None:
        """Run ``handler(kind, key)`` for every notice (from any node, this one included)."""
        if self._redis is not None and self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(handler))

    async def _listen(self, handler: Callable[[str, str | None], None]) -> None:
        backoff = 0.1
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await asyncio.wait_for(pubsub.subscribe(self.prefix + CHANNEL), self.timeout * 4)
                handler("*", None)  # notices may have been missed while unsubscribed: drop everything once
                backoff = 0.1
                while not self._closing:  # (a cancellation the client swallows still ends the loop)
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    try:
                        notice = json.loads(msg["data"])
                        handler(str(notice["kind"]), notice.get("key"))
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignored a malformed change notice")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change notices interrupted (%s); polling until Redis is back", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                try:
                    await asyncio.wait_for(pubsub.aclose(), self.timeout)
                except Exception:  # noqa: S110 - a dead connection cannot be closed politely
                    pass

    async def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            for _ in range(10):  # a cancellation can be lost inside the client's own timeouts: ask again
                self._listener.cancel()
                done, _ = await asyncio.wait([self._listener], timeout=0.5)
                if done:
                    break
            self._listener = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout * 2)
        if self._redis is not None:
            try:
                await asyncio.wait_for(self._redis.aclose(), self.timeout)
            except Exception:  # noqa: S110 - closing after an outage
                pass
