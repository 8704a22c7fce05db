"""Group commit: the token endpoint's writes of concurrent requests share one transaction.

The cost of a write path is per transaction and per round trip, not per row: one grant with its
refresh token is two INSERTs and a commit, and 32 of them batched cost a tenth each. So each
worker has one :class:`GroupCommit`. A request hands it a *write unit* (an item and the batch
function of its kind) and awaits the outcome. While a transaction is in flight, the units that
arrive wait; when it ends, all of them (up to ``max_batch``) run in the next transaction, each
kind with set-based statements (``executemany``, ``… WHERE digest IN (…)``).

- **No added latency when idle:** a unit that finds nothing in flight starts a transaction at
  once (a batch of one). A unit waits at most for the transaction in flight and the batches queued
  before it; the queue is FIFO, batches hold at most ``max_batch`` units (``KEYTURN_WRITE_BATCH``).
- **Per-item semantics:** a batch function returns one outcome per item, a value or the error
  that item's request answers (an ``OAuthError``). Refusals are decided per row by the consuming
  statement, so a replay in a batch fails its own request only (services/tokens.py).
- **Nothing returned that was not committed:** outcomes are handed out after the commit.
- **One bad item never fails the others:** an unexpected error in a batch (a bug, a constraint)
  splits the batch in halves, retried each in its own transaction, down to the single unit that
  fails alone. A serialization failure or deadlock (another worker's transaction; PostgreSQL
  under REPEATABLE READ or SERIALIZABLE) retries the whole batch, at most ``RETRIES`` times.
- **Database down:** the connection error is every member's outcome; the error pipeline answers
  each request in its protocol's shape (``server_error``, 500). Nothing was half-written: one
  transaction (or, for a batch of ``ONE_STATEMENT`` kinds on PostgreSQL, one statement).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn import metrics

log = logging.getLogger("keyturn.writes")

I = TypeVar("I")  # noqa: E741 - an item
# A batch function answers one outcome per item, in order: a value, or the error that item's request answers.
BatchFn = Callable[[AsyncConnection, Sequence[I]], Awaitable[list[Any]]]
RETRIES = 3
# Batch functions that write with ONE statement on PostgreSQL (an atomic unit by itself): a batch of only
# their units runs in autocommit, one round trip instead of three (BEGIN, statement, COMMIT).
ONE_STATEMENT: set[BatchFn[Any]] = set()
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


@dataclass(slots=True)
class _Unit(Generic[I]):
    apply: BatchFn[I]
    item: I
    future: asyncio.Future[Any]


@dataclass
class BatchStats:
    """Counters for the operations layer (metrics) and the tests."""

    transactions: int = 0  # begun, committed or not
    failed: int = 0  # transactions that did not commit
    units: int = 0  # units committed
    largest: int = 0
    splits: int = 0
    retries: int = 0
    sizes: list[int] = field(default_factory=list)  # the sizes of the last transactions begun, newest last

    def begun(self, size: int) -> None:
        self.transactions += 1
        self.largest = max(self.largest, size)
        self.sizes.append(size)
        del self.sizes[:-64]
        metrics.GROUP_COMMIT_BATCH.observe(size)


def one_statement(apply: BatchFn[I]) -> BatchFn[I]:
    """Mark a batch function as one statement on PostgreSQL (see ``ONE_STATEMENT``)."""
    ONE_STATEMENT.add(apply)
    return apply


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _unavailable(exc: BaseException) -> bool:
    """The database (or the way to it) failed, not this batch: splitting would fail the same way."""
    if isinstance(exc, PoolTimeout | OSError | asyncio.TimeoutError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError) and _sqlstate(exc) not in RETRYABLE_SQLSTATES


class GroupCommit:
    """One per worker (built by services/context.py); see the module's docstring."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._queue: list[_Unit[Any]] = []
        self._drainer: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Units queued behind the transaction in flight."""
        return len(self._queue)

    async def submit(self, apply: BatchFn[I], item: I) -> Any:
        """Run ``item`` in the next transaction with ``apply``; its outcome once committed.

        The outcome is what ``apply`` answered for this item (a value or an error to raise); an
        error of the transaction itself is raised.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Unit(apply, item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        # Shielded: a client that disconnects must not cancel a unit that is already in a transaction.
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until every unit submitted so far is answered (at shutdown)."""
        while self._drainer is not None:
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                await self._run(batch)
        finally:
            self._drainer = None

    async def _run(self, batch: list[_Unit[Any]], attempt: int = 0) -> None:
        self.stats.begun(len(batch))
        try:
            outcomes = await self._transaction(batch)
        except Exception as exc:  # noqa: BLE001 - every failure is some unit's answer
            self.stats.failed += 1
            if _sqlstate(exc) in RETRYABLE_SQLSTATES and attempt < RETRIES:
                self.stats.retries += 1
                await self._run(batch, attempt + 1)
            elif len(batch) > 1 and not _unavailable(exc):
                self.stats.splits += 1
                log.warning("a batch of %d writes failed (%s); retrying it in halves", len(batch),
                            type(exc).__name__)
                half = len(batch) // 2
                await self._run(batch[:half])
                await self._run(batch[half:])
            else:
                for unit in batch:
                    if not unit.future.done():
                        unit.future.set_exception(exc)
            return
        self.stats.units += len(batch)
        for unit, outcome in zip(batch, outcomes, strict=True):
            if not unit.future.done():
                unit.future.set_result(outcome)

    @contextlib.asynccontextmanager
    async def _autocommit(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _transaction(self, batch: list[_Unit[Any]]) -> list[Any]:
        """One transaction: each kind's units together, kinds in order of first arrival."""
        groups: dict[BatchFn[Any], list[int]] = {}
        for i, unit in enumerate(batch):
            groups.setdefault(unit.apply, []).append(i)
        outcomes: list[Any] = [None] * len(batch)
        if len(groups) == 1 and self.engine.dialect.name == "postgresql" and next(iter(groups)) in ONE_STATEMENT:
            transaction = self._autocommit()
        else:
            transaction = self.engine.begin()
        async with transaction as conn:
            for apply, positions in groups.items():
                answered = await apply(conn, [batch[i].item for i in positions])
                if len(answered) != len(positions):
                    raise RuntimeError(f"{apply!r} answered {len(answered)} outcomes for {len(positions)} items")
                for i, outcome in zip(positions, answered, strict=True):
                    outcomes[i] = outcome
        return outcomes
