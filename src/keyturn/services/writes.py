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
  fails alone. A serialization failure or deadlock (SQLSTATE 40001/40P01: another worker's
  transaction) retries the whole batch after a short random wait, at most ``RETRIES`` times; if it
  still fails, every member answers ``503 temporarily_unavailable`` with ``Retry-After: 1``, never
  a 500, and nothing of it was written. Keyturn pins its PostgreSQL sessions at READ COMMITTED
  (:func:`pin_read_committed`) whatever the database's default, so that one conditional UPDATE
  decides single use by waiting for the row instead of failing; the retry is the second line.
- **Database down:** (keyturn.services.outage.classify: connection lost or refused, pool or
  statement timeout, an operational error) the error is the outcome of every unit of the batch
  *and of every unit queued behind it*, at once: none waits for another attempt that would fail
  the same way. The error pipeline answers each request 503 ``temporarily_unavailable`` with
  ``Retry-After`` in its protocol's shape. Nothing was half-written: one transaction (or, for a
  batch of ``ONE_STATEMENT`` kinds on PostgreSQL, one statement).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn import metrics
from keyturn.core.errors import TemporarilyUnavailable
from keyturn.services.outage import classify

log = logging.getLogger("keyturn.writes")

I = TypeVar("I")  # noqa: E741 - an item
# A batch function answers one outcome per item, in order: a value, or the error that item's request answers.
BatchFn = Callable[[AsyncConnection, Sequence[I]], Awaitable[list[Any]]]
RETRIES = 5
RETRY_WAIT = 0.004  # seconds: attempt n waits a random time in [0, RETRY_WAIT * 2**n) (jitter: losers spread out)
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


def pin_read_committed(engine: AsyncEngine) -> None:
    """Every PostgreSQL session this engine opens runs at READ COMMITTED, whatever the database's or the
    role's default (``ALTER DATABASE … SET default_transaction_isolation``).

    Single use is one ``UPDATE … WHERE used_at IS NULL``: at READ COMMITTED a second transaction waits for the
    first and then finds zero rows (a replay, answered ``invalid_grant`` and revoking the family, whose grant it
    then reads as committed). At REPEATABLE READ or SERIALIZABLE the same race fails with a serialization error,
    and a replay's later statements see the snapshot, not the winner's grant. The setting travels in the
    connection's startup packet (asyncpg ``server_settings``): no round trip, and SQLAlchemy's detected
    default — which it restores after an AUTOCOMMIT use — is READ COMMITTED too. SQLite: nothing to do.
    """
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine.sync_engine, "do_connect")
    def _read_committed(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["server_settings"] = {**cparams.get("server_settings", {}),
                                      "default_transaction_isolation": "read committed"}


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _unavailable(exc: BaseException) -> bool:
    """The database (or the way to it) failed, not this batch: splitting would fail the same way."""
    return classify(exc) not in (None, "conflict")


def _fail(units: Sequence[_Unit[Any]], exc: BaseException) -> None:
    for unit in units:
        if not unit.future.done():
            unit.future.set_exception(exc)


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
            # its own empty context: the drainer serves many requests, it carries none's id (core/logcontext.py)
            self._drainer = asyncio.create_task(self._drain(), context=contextvars.Context())
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

    async def _run(self, batch: list[_Unit[Any]], attempt: int = 0) -> BaseException | None:
        """Run one batch; answers the error when the database was unavailable (every unit queued is then
        answered with it too), else None."""
        self.stats.begun(len(batch))
        try:
            outcomes = await self._transaction(batch)
        except Exception as exc:  # noqa: BLE001 - every failure is some unit's answer
            self.stats.failed += 1
            if _sqlstate(exc) in RETRYABLE_SQLSTATES:
                if attempt < RETRIES:
                    self.stats.retries += 1
                    await asyncio.sleep(random.uniform(0, RETRY_WAIT * 2 ** attempt))  # noqa: S311 - jitter
                    return await self._run(batch, attempt + 1)
                log.warning("a batch of %d writes still conflicted after %d retries (SQLSTATE %s); answering 503",
                            len(batch), RETRIES, _sqlstate(exc))
                _fail(batch, TemporarilyUnavailable(
                    "the server is busy; retry", detail="serialization failures", retry_after=1))
                return None
            if _unavailable(exc):
                queued, self._queue = self._queue, []
                _fail([*batch, *queued], exc)
                return exc
            if len(batch) > 1:
                self.stats.splits += 1
                log.warning("a batch of %d writes failed (%s); retrying it in halves", len(batch),
                            type(exc).__name__)
                half = len(batch) // 2
                lost = await self._run(batch[:half])
                if lost is not None:
                    _fail(batch[half:], lost)
                    return lost
                return await self._run(batch[half:])
            _fail(batch, exc)
            return None
        self.stats.units += len(batch)
        for unit, outcome in zip(batch, outcomes, strict=True):
            if not unit.future.done():
                unit.future.set_result(outcome)
        return None

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
