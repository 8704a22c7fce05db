"""The purge: what has expired is deleted, so tables stay bounded under steady load.

Every serving process runs :class:`Purger` in the background (``KEYTURN_PURGE_INTERVAL``, each wait
jittered ±20% so workers and nodes spread out; 0 turns it off) and ``keyturn purge`` runs it once.
It works in batches of ``KEYTURN_PURGE_BATCH`` rows, one short transaction per batch, yielding to the
event loop between batches: off the hot path, and never holding a lock a request waits on for long.
Several workers and nodes may purge at once (storage/purge.py: ``FOR UPDATE SKIP LOCKED``, at
``READ COMMITTED`` whatever isolation level the database defaults to).

A row goes ``KEYTURN_PURGE_GRACE`` seconds after it stops meaning anything:

=================  ==========================================================================
codes              past ``expires_at`` (an expired code is refused anyway)
interactions       past ``expires_at``
pushed_requests    past ``expires_at`` + the interaction lifetime (RFC 9126 ``request_uri``s, used or
                   not: a sign-in that loaded one may spend it until its interaction expires)
sessions           past ``expires_at``, ended, or idle longer than ``session_idle_ttl``
revoked_tokens     past the ``exp`` of the token it names + ``clock_leeway`` (a verifier could
                   still accept the token until then)
throttles          counting window over and lock expired
refresh_tokens     their grant (family) revoked or expired
grants             no refresh token left, and no access token of theirs can still be live:
                   expired ``access_token_ttl`` + leeway ago, or revoked that long + the revocation
                   cache's margin ago (services/revocations.py loads revoked grants that recent)
audit_events       older than ``KEYTURN_AUDIT_RETENTION`` (0: kept forever); no grace
=================  ==========================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn import metrics
from keyturn.services.revocations import MARGIN
from keyturn.settings import Settings
from keyturn.storage import purge as store

log = logging.getLogger("keyturn.purge")
JITTER = 0.2
STOP_TIMEOUT = 5.0  # seconds stop() waits for a batch in progress before cancelling it
# The longest window a throttle row counts failures in (services/oidc/login.py; a test holds them equal).
THROTTLE_WINDOW = 3600.0
# How long after its expiry a pushed request may still be spent: services/oidc/flow.py's INTERACTION_TTL
# (a test holds them equal; imported, it would make an import cycle through services/context.py).
SIGN_IN_WINDOW = 600.0
TABLES = ("authorization_codes", "interactions", "pushed_requests", "sessions", "revoked_tokens", "throttles",
          "refresh_reissues",
          "refresh_tokens", "grants", "audit_events")

Batch = Callable[[AsyncConnection, int], Awaitable[int]]


@dataclass
class Purger:
    engine: AsyncEngine
    settings: Settings
    clock: Callable[[], float]
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """One batch's transaction; on PostgreSQL at READ COMMITTED whatever the database's default: each
        row's condition stands on its own, and under REPEATABLE READ or SERIALIZABLE purges running at once
        on several nodes fail each other's batches with serialization errors (3 of 4 concurrent runs
        failed, measured), where at READ COMMITTED they share the rows."""
        if self.engine.dialect.name != "postgresql":
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="READ COMMITTED")
            async with conn.begin():
                yield conn

    def _batches(self, now: float) -> list[tuple[str, Batch]]:
        """Each table's one-batch delete at ``now``, in an order where a grant's tokens go before it."""
        s = self.settings
        before = now - s.purge_grace
        token_gone = before - s.access_token_ttl - s.clock_leeway
        out: list[tuple[str, Batch]] = [
            ("authorization_codes", lambda c, n: store.expired_codes(c, before, n)),
            ("interactions", lambda c, n: store.expired_interactions(c, before, n)),
            ("pushed_requests", lambda c, n: store.expired_pushed_requests(c, before - SIGN_IN_WINDOW, n)),
            ("sessions", lambda c, n: store.dead_sessions(c, before, s.session_idle_ttl, n)),
            ("revoked_tokens", lambda c, n: store.expired_revoked_tokens(c, before - s.clock_leeway, n)),
            ("throttles", lambda c, n: store.stale_throttles(c, before, THROTTLE_WINDOW, n)),
            ("refresh_reissues", lambda c, n: store.stale_reissues(c, now - s.refresh_reuse_grace, n)),
            ("refresh_tokens", lambda c, n: store.refresh_tokens_of_dead_grants(c, before, n)),
            ("grants", lambda c, n: store.dead_grants(c, token_gone - MARGIN, token_gone, n)),
        ]
        if s.audit_retention:
            out.append(("audit_events", lambda c, n: store.old_audit_events(c, now - s.audit_retention, n)))
        return out

    async def run_once(self) -> dict[str, int]:
        """One full purge: rows deleted per table (every table named, 0 when nothing was due)."""
        counts = dict.fromkeys(TABLES, 0)
        limit = self.settings.purge_batch
        for table, batch in self._batches(self.clock()):
            while True:
                async with self._transaction() as conn:
                    deleted = await batch(conn, limit)
                if deleted:
                    counts[table] += deleted
                    metrics.ROWS_PURGED.labels(table).inc(deleted)
                if deleted < limit or self._stopping.is_set():
                    break
                await asyncio.sleep(0)  # let requests in between batches
        return counts

    def next_wait(self) -> float:
        return self.settings.purge_interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not secret

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.next_wait())
            if self._stopping.is_set():
                return
            try:
                counts = await self.run_once()
            except Exception as exc:  # noqa: BLE001 - the next run tries again; serving goes on
                log.warning("purge failed, next run in about %.0f s: %s", self.settings.purge_interval,
                            type(exc).__name__)
                continue
            if any(counts.values()):
                log.info("purged %s", ", ".join(f"{t}={n}" for t, n in counts.items() if n))

    def start(self) -> None:
        if self._task is None and self.settings.purge_interval > 0:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Let a run in progress finish its batch (a task cancelled inside a transaction could hand its
        connection back mid-transaction), then end; cancelled only past ``STOP_TIMEOUT``."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._stopping = asyncio.Event()
