"""Readiness (``GET /readyz``): may this worker take traffic? Four checks, each named in the answer.

- ``database``: a connection opens and answers ``SELECT 1`` (within ``KEYTURN_DATABASE_TIMEOUT``);
- ``writable``: a committed no-op write (``alembic_version`` rewritten to itself in a transaction):
  fails on a read-only database file, a read-only PostgreSQL (``default_transaction_read_only``,
  a standby) and a database whose disk is full;
- ``migrations``: the schema is at the code's Alembic heads (none pending);
- ``keys``: the signing keys every configured algorithm needs are loaded.

The result is cached for ``TTL`` seconds (a failing one for ``FAILED_TTL``) and concurrent
probes share one check, so a load balancer may poll it often. A failing check is named with the
kind of failure only, never an error message (no host, user or path leaks). Liveness (``/healthz``) checks none of this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.services.cache import SingleFlight
from keyturn.services.keyring import KeyRing
from keyturn.services.outage import classify
from keyturn.storage import db

TTL = 1.0
FAILED_TTL = 0.25  # a failing answer is kept less long: readiness comes back within a quarter second
CHECKS = ("database", "writable", "migrations", "keys")


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # check -> "ok", "skipped" or why it failed
    failing: str | None = None  # the first failing check

    @property
    def ready(self) -> bool:
        return self.failing is None

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "ready" if self.ready else "not ready", "checks": dict(self.checks)}
        if self.failing is not None:
            body["failing"] = self.failing
        return body


class ReadinessProbe:
    def __init__(self, engine: AsyncEngine, keys: KeyRing, ttl: float = TTL) -> None:
        self.engine = engine
        self.keys = keys
        self.ttl = ttl
        self._last: Readiness | None = None
        self._at = float("-inf")
        self._flight = SingleFlight()

    async def check(self) -> Readiness:
        if self._last is not None and time.monotonic() - self._at < (
                self.ttl if self._last.ready else min(self.ttl, FAILED_TTL)):
            return self._last
        return await self._flight.run("check", self._check)

    async def _check(self) -> Readiness:
        checks: dict[str, str] = {}
        failing: str | None = None

        def fail(name: str, why: str) -> None:
            nonlocal failing
            checks[name] = why
            failing = failing or name

        try:
            pending = await db.probe(self.engine)
        except Exception as exc:  # noqa: BLE001 - a probe: every failure is an answer
            fail("database", f"failed ({classify(exc) or 'error'})")
            checks.update(writable="skipped", migrations="skipped")
        else:
            checks["database"] = "ok"
            if pending:
                fail("migrations", f"failed ({len(pending)} pending)")
            else:
                checks["migrations"] = "ok"
            try:
                await db.write_probe(self.engine)
            except Exception as exc:  # noqa: BLE001
                fail("writable", f"failed ({classify(exc) or 'error'})")
            else:
                checks["writable"] = "ok"
        if self.keys.loaded:
            checks["keys"] = "ok"
        else:
            fail("keys", "failed (no signing key loaded)")
        result = Readiness({name: checks[name] for name in CHECKS}, failing)
        self._last, self._at = result, time.monotonic()
        return result
