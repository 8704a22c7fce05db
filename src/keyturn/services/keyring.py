"""Signing keys: generated on first start, stored in the database, rotated by `keyturn keys rotate`.

A rotated key is published at once and signs from ``activates_at`` (now plus
``key_prepublish_seconds``); the key it replaces keeps being published until
every token it signed has expired (retirement + access/id token lifetime).
Workers reload the set every ``RELOAD_SECONDS`` and when they meet an unknown ``kid``
(at most once per ``UNKNOWN_KID_COOLDOWN`` seconds, so junk tokens cannot storm the database).
The routine reload runs in the background: requests (/jwks, tokens) answer with the keys in
memory meanwhile, and when the database is unavailable the last good keys stay (one WARNING
line per failed reload), so /jwks keeps answering through an outage.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.core.jose import (
    CLIENT_ID_TOKEN_ALGS,
    SigningKey,
    generate_private_key,
    load_private_pem,
    private_pem,
    public_jwk,
)
from keyturn.core.models import StoredKey
from keyturn.services.cache import SingleFlight
from keyturn.services.outage import classify
from keyturn.settings import Settings
from keyturn.storage import keys as keys_repo

log = logging.getLogger("keyturn.keys")
RELOAD_SECONDS = 5.0
JWKS_RELOAD_SECONDS = 2.0
UNKNOWN_KID_COOLDOWN = 2.0


class KeyRing:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._rows: list[StoredKey] = []  # ordered by activates_at
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = 0.0
        self._signing: dict[str, SigningKey] = {}
        self._next_change = float("inf")  # the next activates_at / retired_at among the loaded rows
        self._unknown_kid_at = float("-inf")
        self._flight = SingleFlight()
        self._background: asyncio.Task[None] | None = None
        secret = settings.key_encryption_secret
        self._password = base64.b64encode(hashlib.sha256(secret.encode()).digest()) if secret else None

    @property
    def needed_algs(self) -> set[str]:
        # And what an OIDC client may register as id_token_signed_response_alg, whatever the defaults are.
        return {self.settings.access_token_alg, self.settings.id_token_alg, *CLIENT_ID_TOKEN_ALGS}

    async def ensure(self, now: float | None = None) -> None:
        """Load keys; create any algorithm's first key that is missing (first start)."""
        now = time.time() if now is None else now
        await self.reload(now)
        missing = self.needed_algs - {r.alg for r in self._rows}
        if missing:
            async with self.engine.begin() as conn:
                for alg in sorted(missing):
                    await self._insert(conn, alg, now, now)
            await self._reload(now)  # not a shared flight: it must see the keys just written

    async def _insert(self, conn: Any, alg: str, now: float, activates_at: float) -> str:
        key = generate_private_key(alg)
        jwk = public_jwk(key, alg)
        await keys_repo.insert(conn, kid=jwk["kid"], alg=alg, private_pem=private_pem(key, self._password),
                               public_jwk=jwk, created_at=now, activates_at=activates_at)
        log.info("signing key created kid=%s alg=%s activates_at=%s", jwk["kid"], alg, activates_at)
        return str(jwk["kid"])

    async def rotate(self, alg: str, now: float | None = None) -> str:
        """Introduce a new key for ``alg``; the previous one retires when the new one activates."""
        now = time.time() if now is None else now
        activates = now + self.settings.key_prepublish_seconds
        async with self.engine.begin() as conn:
            kid = await self._insert(conn, alg, now, activates)
            await keys_repo.retire_others(conn, alg, kid, activates)
        await self._reload(now)  # not a shared flight: it must see the key just written
        return kid

    async def reload(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        await self._flight.run("keys", lambda: self._reload(now))  # concurrent callers share one query

    async def _reload(self, now: float) -> None:
        async with self.engine.connect() as conn:
            rows = await keys_repo.all_keys(conn)
        keys: dict[str, SigningKey] = {}
        for r in rows:
            if r.kid in self._keys:
                keys[r.kid] = self._keys[r.kid]
            else:
                priv = load_private_pem(r.private_pem, self._password)
                keys[r.kid] = SigningKey(r.kid, r.alg, priv, r.public_jwk)
        self._rows = rows
        self._keys = keys
        self._loaded_at = now
        self._select_signing(now)

    def _select_signing(self, now: float) -> None:
        self._signing = {}
        self._next_change = float("inf")
        earliest: dict[str, SigningKey] = {}
        for r in self._rows:  # ordered by activates_at: the newest active, unretired key signs
            unretired = r.retired_at is None or r.retired_at > now
            if r.activates_at <= now and unretired:
                self._signing[r.alg] = self._keys[r.kid]
            elif unretired:
                earliest.setdefault(r.alg, self._keys[r.kid])
            for at in (r.activates_at, r.retired_at):
                if at is not None and at > now:
                    self._next_change = min(self._next_change, at)
        # None active yet: this node's clock is behind the one that created the keys (a first start on a slow
        # node). The earliest unretired key signs rather than none; it is published already.
        for alg, key in earliest.items():
            self._signing.setdefault(alg, key)

    async def maybe_reload(self, now: float, max_age: float = RELOAD_SECONDS) -> None:
        """Reload when older than ``max_age``: in the background once keys are loaded (the caller goes on
        with the keys in memory), else now."""
        if now - self._loaded_at > max_age:
            if not self._rows:
                await self.reload(now)
                return
            if self._background is None or self._background.done():
                self._background = asyncio.create_task(self._reload_quietly(now))
        if now >= self._next_change:  # a pre-published key activates: no query needed
            self._select_signing(now)

    async def _reload_quietly(self, now: float) -> None:
        try:
            await self.reload(now)
        except Exception as exc:  # noqa: BLE001 - a background task: log, keep the last good keys
            self._loaded_at = now  # the next attempt after another max_age
            kind = classify(exc)
            if kind is None:
                log.exception("signing keys not reloaded; serving the last loaded")
            else:
                log.warning("signing keys not reloaded (database unavailable: %s); serving the last loaded", kind)

    async def stop(self) -> None:
        """Cancel a background reload (at shutdown)."""
        task, self._background = self._background, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def reload_for_kid(self, kid: object, now: float) -> bool:
        """A token names a kid we do not hold (another process just rotated): reload, rate-limited."""
        if not isinstance(kid, str) or kid in self._keys or now - self._unknown_kid_at < UNKNOWN_KID_COOLDOWN:
            return False
        self._unknown_kid_at = now
        await self.reload(now)
        return kid in self._keys

    @property
    def loaded(self) -> bool:
        """Whether a signing key is loaded for each algorithm tokens are signed with (readiness)."""
        return {self.settings.access_token_alg, self.settings.id_token_alg} <= set(self._signing)

    def signing_key(self, alg: str) -> SigningKey:
        return self._signing[alg]

    @property
    def verification_keys(self) -> dict[str, SigningKey]:
        return self._keys

    @property
    def stored(self) -> list[StoredKey]:
        """Every key loaded, oldest activation first (the CLI lists them: keyturn.wire.keys)."""
        return list(self._rows)

    def is_published(self, key: StoredKey, now: float) -> bool:
        """In the JWKS until every token it may have signed has expired (retirement plus a token lifetime)."""
        grace = max(self.settings.access_token_ttl, 3600) + 300
        return key.retired_at is None or key.retired_at + grace > now

    def is_signing(self, key: StoredKey) -> bool:
        return any(k.kid == key.kid for k in self._signing.values())

    def published(self, now: float) -> list[dict[str, Any]]:
        return [dict(r.public_jwk) for r in self._rows if self.is_published(r, now)]
