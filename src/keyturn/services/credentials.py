"""Credentials (seed 000): OAuth confidential clients for the client-credentials grant.

``username`` is the client_id and ``password`` the client_secret: high entropy,
returned only when created or rotated, stored only as a SHA-256 digest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from keyturn.core import origins
from keyturn.core.durations import normalise_duration
from keyturn.core.errors import ApiError, InvalidScope, not_found
from keyturn.core.models import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
    Client,
    Principal,
)
from keyturn.core.scopes import format_scope, parse_scope
from keyturn.core.secrets import digest, new_client_id, new_client_secret
from keyturn.services import access
from keyturn.services.context import Context
from keyturn.services.redirects import validate_redirect_uris
from keyturn.storage import audit
from keyturn.storage import clients as clients_repo
from keyturn.storage import grants as grants_repo

DEFAULT_ROLE = "merchant-terminal"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def render(client: Client, secret: str | None = None) -> dict[str, Any]:
    """The seed's shape (seed 000 §1.3.1), plus accountId, role and scope."""
    out: dict[str, Any] = {
        "name": client.name, "domain": client.domain or "", "scope": client.scope,
        "ownerId": client.owner_id, "accountId": client.account_id, "role": client.role,
        "prefix": "Bearer", "refresh": client.refresh, "type": 1, "status": client.status,
        "username": client.client_id,
    }
    if secret is not None:
        out["password"] = secret
    out.update({
        "public": client.public_id, "groupId": None,
        "updatedAt": iso(client.updated_at), "createdAt": iso(client.created_at),
        "expiration": iso(client.expiration),
        "redirect": " ".join(client.redirect_uris) or None,
    })
    return out


def _text(body: dict[str, Any], key: str, *, required: bool = False, max_len: int = 2048) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, "INVALID_REQUEST", f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, "INVALID_REQUEST", f"{key} must be a string")
    if len(value) > max_len:
        raise ApiError(400, "INVALID_REQUEST", f"{key} is too long")
    return value


def validate_scope(ctx: Context, raw: str | None) -> str:
    try:
        tokens = parse_scope(raw or "")
    except InvalidScope:
        raise ApiError(400, "INVALID_SCOPE", "scope must be space-separated tokens without quotes, "
                       "backslashes or control characters") from None
    allowed = ctx.settings.allowed_scopes
    if allowed is not None:
        unknown = [t for t in tokens if t not in allowed]
        if unknown:
            raise ApiError(400, "INVALID_SCOPE", f"unknown scope {unknown[0]}")
    return format_scope(tokens)


def validate_domain(raw: str | None) -> str:
    try:
        origins.parse_patterns(raw)
    except origins.PatternError as exc:
        raise ApiError(400, "INVALID_DOMAIN", str(exc)) from None
    return " ".join((raw or "").split())


def validate_refresh(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ApiError(400, "INVALID_REQUEST", "refresh must be a duration string like 1d, or none")
    try:
        return normalise_duration(raw)
    except ValueError as exc:
        raise ApiError(400, "INVALID_REQUEST", f"refresh: {exc}") from None


async def create(ctx: Context, creator: Principal, body: dict[str, Any]) -> dict[str, Any]:
    name = (_text(body, "name", required=True, max_len=200) or "").strip()
    if not name:
        raise ApiError(400, "INVALID_REQUEST", "name is required")
    domain = validate_domain(_text(body, "domain"))
    scope = validate_scope(ctx, _text(body, "scope"))
    refresh = validate_refresh(body["refresh"]) if "refresh" in body else validate_refresh(
        ctx.settings.default_credential_refresh)
    redirect_raw = body.get("redirect")
    redirect_uris = validate_redirect_uris(redirect_raw.split() if isinstance(redirect_raw, str) else redirect_raw)
    role = _text(body, "role", max_len=100) or DEFAULT_ROLE
    account_id = _text(body, "accountId", max_len=64)
    now = ctx.clock()
    client_id, secret = new_client_id(), new_client_secret()
    grant_types = [GRANT_CLIENT_CREDENTIALS] + ([GRANT_REFRESH_TOKEN] if refresh or redirect_uris else [])
    if redirect_uris:
        grant_types.insert(1, GRANT_AUTHORIZATION_CODE)
    async with ctx.engine.begin() as conn:
        account_id = await access.check_can_mint(ctx, conn, creator, account_id, role, scope)
        client = Client(
            client_id=client_id, kind="credential", name=name, owner_id=creator.id, account_id=account_id,
            role=role, secret_digest=digest(secret), prev_secret_digest=None, prev_secret_expires_at=None,
            is_public=False, public_id=str(int(now * 1000)), domain=domain, scope=scope, refresh=refresh,
            status=0, grant_types=tuple(grant_types), redirect_uris=tuple(redirect_uris),
            post_logout_redirect_uris=(), allowed_origins=(), first_party=False, refresh_enabled=bool(refresh),
            id_token_alg=None, revoke_refresh_on_logout=False, expiration=None, created_at=now, updated_at=now)
        await clients_repo.insert(conn, client)
        await audit.record(conn, "credential.created", at=now, actor=creator.resource_name, client_id=client_id,
                           account_id=account_id, role=role, scope=scope)
    return render(client, secret)


async def _owned(ctx: Context, conn: Any, owner: Principal, client_id: str) -> Client:
    # Only an id we could have issued reaches the database (no NUL or non-ASCII for PostgreSQL).
    valid = 0 < len(client_id) <= 64 and all(" " < c <= "~" for c in client_id)
    client = await clients_repo.get(conn, client_id) if valid else None
    if client is None or client.kind != "credential" or client.owner_id != owner.id:
        raise not_found("credential")
    return client


async def list_owned(ctx: Context, owner: Principal) -> list[dict[str, Any]]:
    async with ctx.engine.connect() as conn:
        return [render(c) for c in await clients_repo.list_by_owner(conn, owner.id, "credential")]


async def get(ctx: Context, owner: Principal, client_id: str) -> dict[str, Any]:
    async with ctx.engine.connect() as conn:
        return render(await _owned(ctx, conn, owner, client_id))


async def update(ctx: Context, owner: Principal, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "name" in body:
        name = (_text(body, "name", max_len=200) or "").strip()
        if not name:
            raise ApiError(400, "INVALID_REQUEST", "name must not be empty")
        changes["name"] = name
    if "domain" in body:
        changes["domain"] = validate_domain(_text(body, "domain"))
    if "scope" in body:
        changes["scope"] = validate_scope(ctx, _text(body, "scope"))
    if "status" in body:
        if body["status"] not in (0, 1) or isinstance(body["status"], bool):
            raise ApiError(400, "INVALID_REQUEST", "status must be 0 (active) or 1 (disabled)")
        changes["status"] = body["status"]
    unknown = set(body) - {"name", "domain", "scope", "status"}
    if unknown:
        raise ApiError(400, "INVALID_REQUEST", f"field {sorted(unknown)[0]} cannot be changed")
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        client = await _owned(ctx, conn, owner, client_id)
        if "scope" in changes:
            await access.check_can_mint(ctx, conn, owner, client.account_id, client.role or DEFAULT_ROLE,
                                        changes["scope"])
        await clients_repo.update_fields(conn, client_id, updated_at=now, **changes)
        if changes.get("status") == 1:
            await grants_repo.revoke_grants_of_client(conn, client_id, now, "credential_disabled")
        await audit.record(conn, "credential.updated", at=now, actor=owner.resource_name, client_id=client_id,
                           fields=sorted(changes))
        client = await _owned(ctx, conn, owner, client_id)
    ctx.clients.invalidate(client_id)
    ctx.revocations_changed()
    return render(client)


async def rotate_secret(ctx: Context, owner: Principal, client_id: str) -> dict[str, Any]:
    """New secret now; the old one keeps working for ``secret_rotation_overlap`` seconds."""
    now = ctx.clock()
    secret = new_client_secret()
    async with ctx.engine.begin() as conn:
        client = await _owned(ctx, conn, owner, client_id)
        overlap = ctx.settings.secret_rotation_overlap
        await clients_repo.update_fields(
            conn, client_id, secret_digest=digest(secret), updated_at=now,
            prev_secret_digest=client.secret_digest if overlap else None,
            prev_secret_expires_at=now + overlap if overlap else None)
        await audit.record(conn, "credential.secret_rotated", at=now, actor=owner.resource_name,
                           client_id=client_id, overlap_seconds=overlap)
        client = await _owned(ctx, conn, owner, client_id)
    ctx.clients.invalidate(client_id)
    ctx.revocations_changed()
    return render(client, secret)


async def revoke(ctx: Context, owner: Principal, client_id: str) -> None:
    """Delete a credential: its refresh tokens die at once, its access tokens fail introspection."""
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        await _owned(ctx, conn, owner, client_id)
        await clients_repo.update_fields(conn, client_id, deleted_at=now, status=1, updated_at=now)
        await grants_repo.revoke_grants_of_client(conn, client_id, now, "credential_revoked")
        await audit.record(conn, "credential.revoked", at=now, actor=owner.resource_name, client_id=client_id)
    ctx.clients.invalidate(client_id)
    ctx.revocations_changed()


