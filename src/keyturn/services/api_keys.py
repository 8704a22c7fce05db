"""API keys (seed 001): bound to one account and one role, shown once, stored as a digest.

The hot path (:func:`authenticate`) rejects noise by shape and checksum with no database call,
finds a key by one indexed query on its digest, caches the answer per worker for
``client_cache_ttl`` seconds (which bounds how long a disable takes to reach other workers), and
records the last-used time in memory; a background task writes those times every few seconds.
An unknown key and a disabled key take the same path and get the same 401. Use cases return records;
the wire shape is ``keyturn.wire.api_keys``.

Imported keys (:func:`import_key`) were issued by another service and keep their own format: no prefix,
no checksum. A presented value with a Keyturn prefix is still checked by its checksum, offline; one
without is looked up only if it has the imported shape (keyturn.core.secrets) and some imported key
exists at all (asked once per ``client_cache_ttl``), so a deployment that never imports refuses it
offline as before.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from keyturn import metrics
from keyturn.core.errors import ApiError, InvalidToken, not_found
from keyturn.core.models import ApiKey, Issued, Principal
from keyturn.core.ratelimit import parse_rate_limit, quota
from keyturn.core.secrets import (
    PREFIXES,
    digest,
    imported_key_problem,
    looks_like_api_key,
    looks_like_imported_api_key,
    new_api_key,
)
from keyturn.core.text import check_text, usable_id
from keyturn.services import access
from keyturn.services.context import Services
from keyturn.storage import accounts as accounts_repo
from keyturn.storage import api_keys as keys_repo
from keyturn.storage import audit

INVALID_KEY = "The API key is invalid or disabled"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,99}")
MAX_KEY_LENGTH = 64


async def authenticate(ctx: Services, raw: str, now: float) -> Principal:
    """``X-Api-Key`` → the key's principal, or InvalidToken (same message for noise, unknown, disabled)."""
    native = raw.startswith(PREFIXES)
    if native:
        if len(raw) > MAX_KEY_LENGTH or not looks_like_api_key(raw):
            raise InvalidToken(INVALID_KEY)
    elif not looks_like_imported_api_key(raw) or not await _imports_exist(ctx, now):
        raise InvalidToken(INVALID_KEY)
    key_digest = digest(raw)

    async def load() -> Principal | None:
        async with ctx.engine.connect() as conn:
            found = await keys_repo.find_api_key_by_digest(conn, key_digest)
        if found is None or not found[0].enabled or found[0].imported == native:
            return None
        key, account = found
        return Principal(
            kind="api_key",
            id=key.id,
            account_id=key.account_id,
            role=key.role,
            scopes=None,
            claims={
                "account_facts": access.facts(account),
                "account_name": account.name,
                "account_type": account.type,
                "key_name": key.name,
                "rate_limit": quota(key.rate_limit),
            },
        )

    principal = await ctx.api_keys.get(key_digest, now, load)
    if principal is None:
        raise InvalidToken(INVALID_KEY)
    limit = principal.claims.get("rate_limit")
    if limit is not None:
        retry = await ctx.shared.take("quota:api-key", f"{principal.id}:{limit[0]}/{limit[1]:g}", *limit)
        if retry is not None:
            metrics.RATE_LIMITED.labels("api_key_quota").inc()
            raise ApiError(429, "RATE_LIMITED", f"this API key allows {limit[0]} requests per {limit[1]:g} seconds; "
                           "retry later", retry_after=retry)
    ctx.api_key_usage.record(principal.id, now)
    return principal


async def _imports_exist(ctx: Services, now: float) -> bool:
    async def load() -> bool:
        async with ctx.engine.connect() as conn:
            return await keys_repo.any_imported(conn)

    return bool(await ctx.api_key_imports.get("any", now, load))


def _name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name.strip()):
        raise ApiError(400, "INVALID_REQUEST", "name must be 1-100 letters, digits, spaces or . _ : @ -")
    return name.strip()


async def create(
    ctx: Services, creator: Principal | None, account_id: str, name: str, role: str, rate_limit: str | None = None
) -> Issued[ApiKey]:
    """Mint a key (``creator`` None: the operator, via the CLI). The secret is in this answer only.
    ``rate_limit``: ``N/S`` requests per seconds (keyturn.core.ratelimit), None or ``none``: no quota."""
    return await _add(ctx, creator, account_id, name, role, rate_limit, None)


async def import_key(
    ctx: Services, creator: Principal | None, account_id: str, name: str, role: str, secret: Any,
    rate_limit: str | None = None,
) -> ApiKey:
    """Bring over a key another service issued (``creator`` None: the operator, via the CLI), in its own
    format (keyturn.core.secrets.imported_key_problem says which): stored as a digest and marked imported,
    then usable like a minted key. Same permission as creating one (``api-keys:create``, a role no
    stronger than the caller's). The answer never carries the key."""
    problem = imported_key_problem(secret) if isinstance(secret, str) else "the key must be a string"
    if problem is not None:
        raise ApiError(400, "INVALID_REQUEST", problem)
    return (await _add(ctx, creator, account_id, name, role, rate_limit, secret)).record


async def _add(
    ctx: Services, creator: Principal | None, account_id: str, name: str, role: str, rate_limit: str | None,
    imported: str | None,
) -> Issued[ApiKey]:
    name = _name(name)
    rate_limit = parse_rate_limit(rate_limit) if rate_limit is not None else None
    if not usable_id(account_id):
        raise not_found("account")
    access.check_role_exists(ctx, check_text("role", role))
    now = ctx.clock()
    actor = creator.resource_name if creator else "operator"
    try:
        async with ctx.engine.begin() as conn:
            account = await accounts_repo.get(conn, account_id)
            if creator is not None:
                subject, _ = await access.require(ctx, conn, creator, "api-keys:create", account_id)
                access.check_may_assign(ctx, subject, creator, account_id, role)
            if account is None:
                raise not_found("account")
            secret = imported if imported is not None else new_api_key(test=account.test)
            key = ApiKey(
                id=str(uuid.uuid4()),
                account_id=account_id,
                name=name,
                role=role,
                # an imported key has no prefix to show: its last characters only
                hint="…" + secret[-4:] if imported is not None else secret[:12] + "…" + secret[-4:],
                enabled=True,
                created_at=now,
                created_by=actor,
                updated_at=now,
                last_used_at=None,
                rate_limit=rate_limit,
                imported=imported is not None,
                updated_by=actor,
            )
            await keys_repo.insert_api_key(conn, key, digest(secret))
            await audit.record(
                conn,
                "api_key.imported" if imported is not None else "api_key.created",
                at=now,
                actor=actor,
                subject=key.id,
                account_id=account_id,
                role=role,
                name=name,
                rate_limit=rate_limit,
            )
    except IntegrityError:
        # the name taken on the account, or (importing) the key itself registered already, on any account
        async with ctx.engine.connect() as conn:
            named = await keys_repo.get_api_key_by_name(conn, account_id, name)
        if named is None and imported is not None:
            raise ApiError(409, "CONFLICT", "this API key is registered already") from None
        raise ApiError(409, "CONFLICT", f"an API key named {name} exists on this account") from None
    if imported is not None:
        ctx.changed("api_key")  # other workers' "no imported key exists" answer is stale now
    return Issued(key, secret)


async def list_keys(ctx: Services, principal: Principal | None, account_id: str) -> list[ApiKey]:
    if not usable_id(account_id):
        raise not_found("account")
    async with ctx.engine.connect() as conn:
        if principal is not None:
            await access.require(ctx, conn, principal, "api-keys:list", account_id)
        elif await accounts_repo.get(conn, account_id) is None:
            raise not_found("account")
        return await keys_repo.list_api_keys_of_account(conn, account_id)


async def get_key(ctx: Services, principal: Principal | None, account_id: str, name: str) -> ApiKey:
    """One key's entry, without its secret (api-keys:list, as listing them)."""
    async with ctx.engine.connect() as conn:
        return await _key(ctx, conn, principal, account_id, name, "api-keys:list")


async def _key(ctx: Services, conn: Any, principal: Principal | None, account_id: str, name: str,
               permission: str = "api-keys:update") -> ApiKey:
    if not usable_id(account_id):
        raise not_found("account")
    if principal is not None:
        await access.require(ctx, conn, principal, permission, account_id)
    key = await keys_repo.get_api_key_by_name(conn, account_id, name) if usable_id(name, 200) else None
    if key is None:
        raise not_found("API key")
    return key


async def set_enabled(
    ctx: Services, principal: Principal | None, account_id: str, name: str, enabled: bool
) -> ApiKey:
    now = ctx.clock()
    actor = principal.resource_name if principal else "operator"
    async with ctx.engine.begin() as conn:
        key = await _key(ctx, conn, principal, account_id, name)
        await keys_repo.set_api_key_enabled(conn, key.id, enabled, now, actor)
        await audit.record(
            conn,
            "api_key.enabled" if enabled else "api_key.disabled",
            at=now,
            actor=actor,
            subject=key.id,
            account_id=account_id,
        )
        key = await _key(ctx, conn, None, account_id, name)
    ctx.changed("api_key")
    return key


async def delete(ctx: Services, principal: Principal | None, account_id: str, name: str) -> None:
    now = ctx.clock()
    actor = principal.resource_name if principal else "operator"
    async with ctx.engine.begin() as conn:
        key = await _key(ctx, conn, principal, account_id, name)
        await keys_repo.delete_api_key(conn, key.id)
        await audit.record(
            conn, "api_key.deleted", at=now, actor=actor, subject=key.id, account_id=account_id
        )
    ctx.changed("api_key")


async def set_rate_limit(
    ctx: Services, principal: Principal | None, account_id: str, name: str, rate_limit: str
) -> ApiKey:
    """Set (``N/S``) or remove (``none``) a key's request quota (api-keys:update; None: the operator)."""
    value = parse_rate_limit(rate_limit)
    now = ctx.clock()
    actor = principal.resource_name if principal else "operator"
    async with ctx.engine.begin() as conn:
        key = await _key(ctx, conn, principal, account_id, name)
        await keys_repo.set_api_key_rate_limit(conn, key.id, value, now, actor)
        await audit.record(conn, "api_key.limited", at=now, actor=actor, subject=key.id, account_id=account_id,
                           rate_limit=value)
        key = await _key(ctx, conn, None, account_id, name)
    ctx.changed("api_key")
    return key
