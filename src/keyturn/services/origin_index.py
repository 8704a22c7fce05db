"""Which browser origins clients allow: a credential's ``domain`` patterns, an OIDC client's origins."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.core import origins
from keyturn.core.models import Client
from keyturn.services.cache import SingleFlight
from keyturn.services.outage import classify
from keyturn.storage import clients as clients_repo

log = logging.getLogger("keyturn.origins")
_patterns: dict[str, tuple[origins.OriginPattern, ...]] = {}
ALL_ORIGINS_TTL = 5.0
RETRY_SECONDS = 1.0  # after a failed rebuild, the next attempt


def _credential_patterns(domain: str) -> tuple[origins.OriginPattern, ...]:
    pats = _patterns.get(domain)
    if pats is None:
        try:
            pats = origins.parse_patterns(domain)
        except origins.PatternError:
            pats = ()
        if len(_patterns) > 10000:
            _patterns.clear()
        _patterns[domain] = pats
    return pats


def client_allows(client: Client, origin: str) -> bool:
    if client.kind == "credential":
        return origins.origin_allowed(origin, _credential_patterns(client.domain or ""))
    return origin in client.allowed_origins


class OriginIndex:
    """Which origins some active client allows, for answers given before a client is known.

    Rebuilt from the database at most every ``ALL_ORIGINS_TTL`` seconds, single flight: OIDC
    clients' exact origins in one set, credentials' domain patterns deduplicated, and each
    origin's answer remembered until the next rebuild. A request with an ``Origin`` costs a
    dictionary lookup however many clients there are. Creating an OIDC client drops the index
    (:meth:`invalidate`). When the database is unavailable the answers of the last build stay
    (stale) and the rebuild is tried again after ``RETRY_SECONDS`` (the attempt is bounded by
    ``KEYTURN_DATABASE_TIMEOUT``). Never built and no database: no origin is allowed.
    """

    MAX_ANSWERS = 10000

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._until = 0.0
        self._exact: frozenset[str] = frozenset()
        self._patterns: tuple[origins.OriginPattern, ...] = ()
        self._answers: dict[str, bool] = {}
        self._flight = SingleFlight()
        self._built = False

    async def allows(self, origin: str, now: float) -> bool:
        if now >= self._until:
            await self._rebuild_quietly(now)
        answer = self._answers.get(origin)
        if answer is None:
            answer = origin in self._exact or origins.origin_allowed(origin, self._patterns)
            if len(self._answers) >= self.MAX_ANSWERS:
                self._answers.clear()
            self._answers[origin] = answer
        return answer

    async def _rebuild_quietly(self, now: float) -> None:
        try:
            await self._flight.run("rebuild", lambda: self._rebuild(now))
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            self._until = now + RETRY_SECONDS
            log.warning("allowed origins not rebuilt (database unavailable: %s); %s", kind,
                        "answering from the last build" if self._built else "allowing no origin meanwhile")

    async def _rebuild(self, now: float) -> None:
        async with self.engine.connect() as conn:
            everyone = (await clients_repo.list_by_kind(conn, "credential")
                        + await clients_repo.list_by_kind(conn, "oidc"))
        active = [c for c in everyone if c.active(now)]
        patterns: dict[origins.OriginPattern, None] = {}
        for c in active:
            if c.kind == "credential":
                patterns.update(dict.fromkeys(_credential_patterns(c.domain or "")))
        self._exact = frozenset(o for c in active if c.kind != "credential" for o in c.allowed_origins)
        self._patterns = tuple(patterns)
        self._answers = {}
        # rebuilt when the next credential expires too, so its origins stop being allowed then (not up to TTL later)
        self._until = min([now + ALL_ORIGINS_TTL] + [c.expiration for c in active if c.expiration is not None])
        self._built = True

    def invalidate(self) -> None:
        """Rebuild on the next question (this worker just registered a client)."""
        self._until = 0.0
