"""The composition root's product: everything a use case needs, built once per process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.core.models import Client, is_client_id
from keyturn.services.cache import TTLCache
from keyturn.services.keyring import KeyRing
from keyturn.settings import Settings
from keyturn.storage import clients as clients_repo
from keyturn.storage.db import make_engine


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    keys: KeyRing
    clock: Callable[[], float] = time.time
    clients: TTLCache[Client] = field(default_factory=lambda: TTLCache(1.0))
    extras: dict[str, object] = field(default_factory=dict)

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
        cache = self.extras.get("revocation_cache")
        invalidate = getattr(cache, "invalidate", None)
        if invalidate is not None:
            invalidate()

    async def close(self) -> None:
        await self.engine.dispose()


def build_context(settings: Settings, clock: Callable[[], float] = time.time) -> Context:
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                         timeout=settings.database_timeout)
    ctx = Context(settings=settings, engine=engine, keys=KeyRing(engine, settings), clock=clock)
    ctx.clients = TTLCache(settings.client_cache_ttl)
    return ctx
