"""The composition root: :func:`build_services` makes every dependency a use case needs, once per process.

``Services`` is a typed record, so the type checker and a reader see the whole wiring in one place:
nothing is created lazily on first use, and nothing rides in a string-keyed bag. ``create_app`` (the
HTTP server) and the CLI both build one with :func:`build_services`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.core.jose import VerifiedTokens
from keyturn.core.models import Client, Principal, is_client_id
from keyturn.core.policy import Policy
from keyturn.services.cache import TTLCache
from keyturn.services.keyring import KeyRing
from keyturn.services.limits import FailureCounter, SlidingWindow
from keyturn.services.origin_index import OriginIndex
from keyturn.services.policy_file import load_policy
from keyturn.services.purge import Purger
from keyturn.services.revocations import RevocationCache
from keyturn.services.usage import LastUsed
from keyturn.services.writes import GroupCommit
from keyturn.settings import Settings
from keyturn.storage import clients as clients_repo
from keyturn.storage.db import make_engine, migrate, pending_migrations

CREDENTIAL_CREATE_WINDOW = 3600.0  # KEYTURN_CREDENTIAL_CREATE_LIMIT counts creations in this sliding window


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    writes: GroupCommit  # the token endpoint's writes, batched per transaction (group commit)
    clock: Callable[[], float]
    policy: Policy  # roles × permissions (KEYTURN_POLICY_FILE), validated when built
    keys: KeyRing  # signing keys
    clients: TTLCache[Client]  # client records, for client_cache_ttl seconds
    api_keys: TTLCache[Principal]  # API-key principals by digest, for client_cache_ttl seconds
    api_key_usage: LastUsed  # last-used times, written off the request path
    revocations: RevocationCache  # revoked jtis and grants
    verified_tokens: VerifiedTokens  # signature results of access tokens
    origins: OriginIndex  # which browser origins some client allows
    client_failures: FailureCounter  # failed client authentications (429 past the limit)
    credential_creations: SlidingWindow  # credentials created per user (429 past the limit)
    purger: Purger  # deletes expired rows in the background (KEYTURN_PURGE_INTERVAL)

    async def client(self, client_id: str, now: float) -> Client | None:
        """A client record, cached for ``client_cache_ttl`` seconds (bounds revocation lag across workers)."""
        async def load() -> Client | None:
            async with self.engine.connect() as conn:
                return await clients_repo.get(conn, client_id)
        if not is_client_id(client_id):  # never send NUL or surrogates to the database
            return None
        return await self.clients.get(client_id, now, load)

    def revocations_changed(self) -> None:
        """Call after committing a revocation: this worker's revocation cache reloads at once."""
        self.revocations.invalidate()

    async def pending_migrations(self) -> list[str]:
        """The migrations ``start(run_migrations=True)`` would apply (none: the schema is current)."""
        return await pending_migrations(self.engine)

    async def start(self, *, run_migrations: bool = False) -> None:
        """What a process does before it serves: migrations (if asked), signing keys, background writers."""
        if run_migrations:
            await migrate(self.engine)
        await self.keys.ensure(self.clock())
        self.api_key_usage.start()
        self.purger.start()

    async def close(self) -> None:
        await self.purger.stop()
        await self.writes.drain()
        await self.api_key_usage.stop()
        await self.engine.dispose()


def build_services(settings: Settings, clock: Callable[[], float] = time.time) -> Services:
    """Every dependency, built now. An invalid policy file raises PolicyError (naming the line and field)."""
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                         timeout=settings.database_timeout)
    ttl = settings.client_cache_ttl
    return Services(
        settings=settings, engine=engine, writes=GroupCommit(engine, settings.write_batch), clock=clock,
        policy=load_policy(settings),
        keys=KeyRing(engine, settings), clients=TTLCache(ttl), api_keys=TTLCache(ttl),
        api_key_usage=LastUsed(engine), revocations=RevocationCache(engine, ttl, settings.access_token_ttl),
        verified_tokens=VerifiedTokens(), origins=OriginIndex(engine),
        client_failures=FailureCounter(settings.client_auth_max_failures),
        credential_creations=SlidingWindow(settings.credential_create_limit, CREDENTIAL_CREATE_WINDOW),
        purger=Purger(engine, settings, clock),
    )
