"""API-key last-used times: recorded in memory on the request path, written off it in batches."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.services.outage import classify
from keyturn.storage import api_keys as keys_repo

log = logging.getLogger("keyturn.api_keys")
FLUSH_SECONDS = 5.0


class LastUsed:
    """Last-used time per API key id, flushed to the database every ``FLUSH_SECONDS`` and at stop."""

    def __init__(self, engine: AsyncEngine, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.pending: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, key_id: str, now: float) -> None:
        self.pending[key_id] = now

    async def flush(self) -> int:
        if not self.pending:
            return 0
        batch, self.pending = self.pending, {}
        try:
            async with self.engine.begin() as conn:
                await keys_repo.record_last_used(conn, batch)
        except Exception as exc:  # never let telemetry break serving; keep the newest times for the next flush
            kind = classify(exc)
            if kind is None:
                log.exception("could not record API key last-used times")
            else:  # an outage: one line per flush, no traceback
                log.warning("could not record API key last-used times (database unavailable: %s)", kind)
            for k, t in batch.items():
                self.pending[k] = max(t, self.pending.get(k, 0.0))
            return 0
        return len(batch)

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.flush_seconds)
                await self.flush()

        if self._task is None:
            self._task = asyncio.create_task(loop(), context=contextvars.Context())  # no request's id

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
