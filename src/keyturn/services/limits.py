"""In-process counters that slow attackers down (a later step shares them through Redis).

- :class:`FailureCounter`: failed client authentications per key (client_id and source address) in a
  sliding 60 s window; at ``limit`` the key is refused (429) until the oldest failure leaves the window.
- :class:`SlidingWindow`: at most ``limit`` events per key in ``window`` seconds (credential creation).

Both are bounded in memory.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 60.0
MAX_KEYS = 50000


class FailureCounter:
    """Per-worker sliding window of failed authentications per key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._fails: dict[str, deque[float]] = {}

    def blocked(self, key: str, now: float) -> int | None:
        q = self._fails.get(key)
        if not q:
            return None
        while q and q[0] <= now - WINDOW:
            q.popleft()
        if len(q) >= self.limit:
            return max(1, int(q[0] + WINDOW - now) + 1)
        return None

    def fail(self, key: str, now: float) -> None:
        if len(self._fails) >= MAX_KEYS and key not in self._fails:
            self._prune(now)
        q = self._fails.setdefault(key, deque())
        q.append(now)
        if len(q) > self.limit:  # only the newest `limit` failures matter
            q.popleft()

    def _prune(self, now: float) -> None:
        """Drop windows that have fully expired; if still full, drop the oldest half."""
        for k in [k for k, q in self._fails.items() if not q or q[-1] <= now - WINDOW]:
            del self._fails[k]
        if len(self._fails) >= MAX_KEYS:
            for k in sorted(self._fails, key=lambda k: self._fails[k][-1])[: MAX_KEYS // 2]:
                del self._fails[k]


class SlidingWindow:
    """At most ``limit`` events per key within ``window`` seconds."""

    MAX_KEYS = 10_000

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}

    def take(self, key: str, now: float) -> int | None:
        """Count an event now and return None, or return the seconds to wait (nothing counted)."""
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(1, math.ceil(events[0] + self.window - now))
        events.append(now)
        if len(self._events) > self.MAX_KEYS:  # forget keys whose window has emptied
            for k in [k for k, e in self._events.items() if not e or e[-1] <= now - self.window]:
                del self._events[k]
        return None

    def give_back(self, key: str, at: float) -> None:
        """Uncount an event taken at ``at`` (the action it guarded failed)."""
        events = self._events.get(key)
        if events is not None and at in events:
            events.remove(at)
