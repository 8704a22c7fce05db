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
from keyturn.services.client_jwks import ClientJwks
from keyturn.services.keyring import KeyRing
from keyturn.services.origin_index import OriginIndex
from keyturn.services.outage import OUTAGES
from keyturn.services.policy_file import load_policy
from keyturn.services.purge import Purger
from keyturn.services.readiness import ReadinessProbe
from keyturn.services.revocations import RevocationCache
from keyturn.services.shared import Shared
from keyturn.services.usage import LastUsed
from keyturn.services.writes import GroupCommit, pin_read_committed
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
    api_key_imports: TTLCache[bool]  # whether any imported API key exists (else unprefixed keys fail offline)
    api_key_usage: LastUsed  # last-used times, written off the request path
    revocations: RevocationCache  # revoked jtis and grants
    verified_tokens: VerifiedTokens  # signature results of access tokens
    origins: OriginIndex  # which browser origins some client allows
    readiness: ReadinessProbe  # GET /readyz: database reachable and writable, migrations current, keys loaded
    shared: Shared  # limits, replay cache and change notices: Redis if configured, else this process
    purger: Purger  # deletes expired rows in the background (KEYTURN_PURGE_INTERVAL)
    client_jwks: ClientJwks  # clients' jwks_uri key sets (private_key_jwt), fetched within limits and cached

    async def client(self, client_id: str, now: float) -> Client | None:
        """A client record, cached for ``client_cache_ttl`` seconds (bounds revocation lag across workers)."""
        async def load() -> Client | None:
            async with self.engine.connect() as conn:
                return await clients_repo.get(conn, client_id)
        if not is_client_id(client_id):  # never send NUL or surrogates to the database
            return None
        return await self.clients.get(client_id, now, load)

    def revocations_changed(self) -> None:
        """Call after committing a revocation: every worker's revocation cache reloads at once."""
        self.changed("revocation")

    def changed(self, kind: str, key: str | None = None) -> None:
        """Call after committing a change to a cached record: ``client`` (``key``: its client_id; a credential's
        revocation, update or secret rotation also calls ``revocation``), ``api_key`` or ``revocation``. This
        process drops it at once; with Redis every other worker and node does too (a notice), else within
        ``client_cache_ttl`` (their poll)."""
        self.forget(kind, key)
        self.shared.publish(kind, key)

    def forget(self, kind: str, key: str | None = None) -> None:
        """Drop what a change notice names from this process's caches (``*``: everything)."""
        if kind in ("client", "*"):
            self.clients.invalidate(key if kind == "client" else None)
        if kind in ("api_key", "*"):
            self.api_keys.invalidate()
            self.api_key_imports.invalidate()
        if kind in ("revocation", "client", "*"):
            self.revocations.invalidate()

    async def pending_migrations(self) -> list[str]:
        """The migrations ``start(run_migrations=True)`` would apply (none: the schema is current)."""
        return await pending_migrations(self.engine)

    async def start(self, *, run_migrations: bool = False, notices: bool = True) -> None:
        """What a process does before it serves: migrations (if asked), signing keys, background writers, and
        (``notices``, with Redis) the subscriber that drops cached records other nodes changed."""
        if run_migrations:
            await migrate(self.engine)
        await self.keys.ensure(self.clock())
        self.api_key_usage.start()
        if notices:
            self.shared.listen(self.forget)
        self.purger.start()

    async def close(self) -> None:
        await self.purger.stop()
        await self.writes.drain()
        await self.api_key_usage.stop()
        await self.keys.stop()
        await self.shared.close()
        await self.engine.dispose()


def build_services(settings: Settings, clock: Callable[[], float] = time.time) -> Services:
    """Every dependency, built now. An invalid policy file raises PolicyError (naming the line and field)."""
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                         timeout=settings.database_timeout)
    pin_read_committed(engine)  # single use and reuse detection hold under any database default isolation
    engine.on_available = OUTAGES.succeeded  # the "database available again" line after an outage
    ttl = settings.client_cache_ttl
    keys = KeyRing(engine, settings)
    return Services(
        settings=settings, engine=engine, writes=GroupCommit(engine, settings.write_batch), clock=clock,
        policy=load_policy(settings),
        keys=keys, clients=TTLCache(ttl, name="clients"), api_keys=TTLCache(ttl, name="api_keys"),
        api_key_imports=TTLCache(ttl, name="api_key_imports"),
        api_key_usage=LastUsed(engine), revocations=RevocationCache(engine, ttl, settings.access_token_ttl),
        verified_tokens=VerifiedTokens(), origins=OriginIndex(engine),
        readiness=ReadinessProbe(engine, keys),
        shared=Shared(settings.redis_url, settings.redis_prefix, settings.redis_timeout, clock=clock),
        purger=Purger(engine, settings, clock),
        client_jwks=ClientJwks(settings.jwks_uri_allowed_hosts, settings.outbound_ca_file),
    )
