"""Credentials (seed 000): OAuth confidential clients for the client-credentials grant.

``username`` is the client_id and ``password`` the client_secret: high entropy,
returned only when created or rotated (:class:`~keyturn.core.models.Issued`), stored only as a SHA-256
digest. Use cases return records; the wire shape is ``keyturn.wire.credentials``.

A credential's scopes come from a catalogue (:func:`catalogue`): the policy's capability scopes, the
permissions its creator holds on the credential's account, and the operator's additions
(``KEYTURN_ALLOWED_SCOPES``); ``keyturn:*`` is never grantable here. Updates are partial and ``null``
never clears a field (docs/management-api.md). Creation is rate limited per user.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from keyturn import metrics
from keyturn.core import origins
from keyturn.core.durations import normalise_duration
from keyturn.core.errors import ApiError, InvalidScope, not_found
from keyturn.core.models import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
    Client,
    Grantable,
    Issued,
    Principal,
    is_client_id,
)
from keyturn.core.policy import RESERVED_SCOPE_PREFIX
from keyturn.core.ratelimit import parse_rate_limit
from keyturn.core.scopes import format_scope, is_scope_token, parse_scope
from keyturn.core.secrets import digest, new_client_id, new_client_secret
from keyturn.core.text import check_text
from keyturn.services import access
from keyturn.services.context import CREDENTIAL_CREATE_WINDOW, Services
from keyturn.services.oidc.metadata import KEY_NAMES, credential_fields, credential_keys, credential_tls, invalid
from keyturn.services.redirects import validate_redirect_uris
from keyturn.storage import accounts as accounts_repo
from keyturn.storage import audit
from keyturn.storage import clients as clients_repo
from keyturn.storage import grants as grants_repo

DEFAULT_ROLE = "merchant-terminal"
UPDATABLE = ("name", "domain", "scope", "status", "rateLimit", "expiration", "token_endpoint_auth_method",
             *KEY_NAMES)
NO_EXPIRATION = "none"  # an update's way to remove an expiration (null is refused, as for every field)
LAST_EXPIRATION = 253370764800.0  # 9999-01-01T00:00:00Z: later instants have no 4-digit ISO year to answer with


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
    return check_text(key, value)


def validate_scope(ctx: Services, raw: str | None) -> str:
    """RFC 6749 §3.3 grammar only; what may be granted is :func:`check_grantable`'s question."""
    try:
        tokens = parse_scope(raw or "")
    except InvalidScope:
        raise ApiError(400, "INVALID_SCOPE", "scope must be space-separated tokens without quotes, "
                       "backslashes or control characters") from None
    return format_scope(tokens)


# ---- the scope catalogue ---------------------------------------------------------------------

def is_reserved(scope: str) -> bool:
    return scope.startswith(RESERVED_SCOPE_PREFIX)


async def catalogue(ctx: Services, conn: Any, creator: Principal, account_id: str) -> list[Grantable]:
    """What ``creator`` may put in the scope of a credential on ``account_id``: (a) the policy's capability
    scopes, (b) the policy permissions the creator holds there (exact names, no ``family:*``; as narrowed by
    the creator's own token), (c) the operator's ``KEYTURN_ALLOWED_SCOPES``. Never ``keyturn:*``."""
    policy = ctx.policy
    subject = await access.subject_of(ctx, conn, creator)
    out: dict[str, Grantable] = {}
    for decl in policy.scopes.values():
        out[decl.name] = Grantable(decl.name, decl.description, "capability")
    for name, perm in policy.permissions.items():
        if (await access.decide_on(ctx, conn, subject, name, account_id)).allowed:
            out.setdefault(name, Grantable(name, perm.description, "permission"))
    for name in ctx.settings.allowed_scopes or ():
        # A permission is grantable by who holds it, never because the operator listed its name.
        if is_scope_token(name) and name not in policy.permissions:
            out.setdefault(name, Grantable(name, "", "operator"))
    return [g for g in out.values() if not is_reserved(g.name)]


async def check_grantable(ctx: Services, conn: Any, creator: Principal, account_id: str, scope: str) -> None:
    """400 ``INVALID_SCOPE`` naming every scope that is unknown, reserved or not the creator's to give."""
    asked = scope.split()
    if not asked:
        return
    names = {g.name for g in await catalogue(ctx, conn, creator, account_id)}
    refused = [s for s in asked if s not in names]
    if refused:
        reserved = [s for s in refused if is_reserved(s)]
        why = f" ({' '.join(reserved)}: reserved for the operator)" if reserved else ""
        raise ApiError(400, "INVALID_SCOPE", f"scope not grantable by you on this account: {' '.join(refused)}"
                       f"{why}; GET /api/v2/credential/grant/list lists what you may grant")


async def default_account(conn: Any, creator: Principal, account_id: str | None) -> str:
    """The account a credential acts for when none is named: the selected one, else the user's own."""
    if account_id is not None:
        return account_id
    account_id = creator.account_id or await accounts_repo.individual_account_of(conn, creator.id)
    if account_id is None:
        raise ApiError(400, "INVALID_REQUEST", "accountId is required (the user has no individual account)")
    return account_id


async def grantable_scopes(ctx: Services, creator: Principal, account_id: str | None = None,
                           role: str | None = None) -> list[Grantable]:
    """``GET /api/v2/credential/grant/list``: the caller's catalogue on one account (default: their own),
    limited to ``role``'s permissions when a role is named. Needs ``api-keys:create`` there, like creating."""
    if creator.kind != "user":
        raise ApiError(403, "PERMISSION_DENIED", "only a user can create credentials")
    if account_id is not None:
        check_text("accountId", account_id)
    if role is not None:
        check_text("role", role)
        access.check_role_exists(ctx, role)
    async with ctx.engine.connect() as conn:
        account_id = await default_account(conn, creator, account_id)
        await access.require(ctx, conn, creator, "api-keys:create", account_id)
        items = await catalogue(ctx, conn, creator, account_id)
    if role is not None:
        within = ctx.policy.permissions_of(role)
        items = [g for g in items if g.source != "permission" or g.name in within]
    return sorted(items, key=lambda g: (g.source, g.name))


# ---- rate limit ------------------------------------------------------------------------------


async def _take_create_slot(ctx: Services, user_id: str) -> str:
    """Sliding window per user, shared through Redis when configured (RFC 6585 §4: 429 with Retry-After).
    Returns the slot's name, to give back with :func:`_release_create_slot` when the creation fails."""
    slot = uuid.uuid4().hex
    retry = await ctx.shared.take("credential-create", user_id, ctx.settings.credential_create_limit,
                                  CREDENTIAL_CREATE_WINDOW, member=slot)
    if retry is not None:
        metrics.RATE_LIMITED.labels("credential_create").inc()
        raise ApiError(429, "RATE_LIMITED", f"at most {ctx.settings.credential_create_limit} credentials "
                       "per hour; try again later", retry_after=retry)
    return slot


async def _release_create_slot(ctx: Services, user_id: str, slot: str) -> None:
    await ctx.shared.give_back("credential-create", user_id, slot)


def validate_domain(raw: str | None) -> str:
    try:
        origins.parse_domain(raw)  # origin patterns and address entries (docs/domain-patterns.md)
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


def validate_expiration(raw: Any, now: float, *, allow_none: bool = False) -> float | None:
    """An expiration as epoch seconds: an ISO 8601 date-time with a UTC offset (``Z`` or ``+hh:mm``), later
    than ``now``. ``None`` (create) and, when ``allow_none`` (update), ``"none"`` mean no expiration."""
    if raw is None or (allow_none and raw == NO_EXPIRATION):
        return None
    if not isinstance(raw, str):
        raise ApiError(400, "INVALID_REQUEST", "expiration must be an ISO 8601 date-time string")
    check_text("expiration", raw)
    text = raw.strip()
    try:
        if not any(c in text for c in "Tt "):  # a date and a time, not a date alone
            raise ValueError(text)
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise ApiError(400, "INVALID_REQUEST", "expiration must be an ISO 8601 date-time with an offset, "
                       "e.g. 2027-01-31T23:59:59Z") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ApiError(400, "INVALID_REQUEST", "expiration needs a UTC offset (Z or +hh:mm)")
    at = when.timestamp()
    if at <= now:
        raise ApiError(400, "INVALID_REQUEST", "expiration must be in the future")
    if at >= LAST_EXPIRATION:
        raise ApiError(400, "INVALID_REQUEST", "expiration must be before 9999-01-01T00:00:00Z")
    return at


def expired(client: Client, now: float) -> bool:
    """The credential's expiration has passed (it then fails client authentication, keyturn.core.models)."""
    return client.expiration is not None and now >= client.expiration


async def create(ctx: Services, creator: Principal, body: dict[str, Any], *,
                 by_operator: bool = False) -> Issued[Client]:
    """Create a credential for ``creator``. ``by_operator`` (the CLI) skips the scope catalogue and the rate
    limit, but never grants ``keyturn:*`` nor a role or permission scope beyond the creator's. RFC 7591 names
    (``client_name``, ``redirect_uris``, ``grant_types``…) are read as the seed's (services/oidc/metadata.py)."""
    tls = credential_tls(body)  # RFC 8705: tls_client_auth and certificate-bound tokens
    tls.update(credential_keys(body, ctx.settings.jwks_uri_allowed_hosts))  # private_key_jwt: jwks or jwks_uri
    body, auth_method = credential_fields(body, ctx.settings.default_credential_refresh)
    name = (_text(body, "name", required=True, max_len=200) or "").strip()
    if not name:
        raise ApiError(400, "INVALID_REQUEST", "name is required")
    domain = validate_domain(_text(body, "domain"))
    scope = validate_scope(ctx, _text(body, "scope"))
    refresh = validate_refresh(body["refresh"]) if "refresh" in body else validate_refresh(
        ctx.settings.default_credential_refresh)
    redirect_raw = body.get("redirect")
    if isinstance(redirect_raw, str):
        redirect_raw = (_text(body, "redirect") or "").split()
    elif isinstance(redirect_raw, list):
        redirect_raw = [check_text("redirect", u) if isinstance(u, str) else u for u in redirect_raw]
    redirect_uris = validate_redirect_uris(redirect_raw)
    role = _text(body, "role", max_len=100) or DEFAULT_ROLE
    account_id = _text(body, "accountId", max_len=64)
    rate_limit = parse_rate_limit(body["rateLimit"]) if body.get("rateLimit") is not None else None
    expiration = validate_expiration(body.get("expiration"), ctx.clock())
    dpop_bound = body.get("dpopBoundAccessTokens", False)
    if not isinstance(dpop_bound, bool):
        raise ApiError(400, "INVALID_REQUEST", "dpopBoundAccessTokens must be true or false")
    reserved = [s for s in scope.split() if is_reserved(s)]
    if by_operator and reserved:  # (self-service: check_grantable names these with any other refused scope)
        raise ApiError(400, "INVALID_SCOPE", f"scope not grantable: {' '.join(reserved)} (reserved for Keyturn)")
    slot = None if by_operator else await _take_create_slot(ctx, creator.id)
    try:
        return await _insert(ctx, creator, name=name, domain=domain, scope=scope, refresh=refresh,
                             redirect_uris=redirect_uris, role=role, account_id=account_id,
                             check_catalogue=not by_operator, rate_limit=rate_limit, expiration=expiration,
                             dpop_bound=dpop_bound, auth_method=auth_method, tls=tls)
    except BaseException:
        if slot is not None:
            await _release_create_slot(ctx, creator.id, slot)
        raise


async def _insert(ctx: Services, creator: Principal, *, name: str, domain: str, scope: str, refresh: str | None,
                  redirect_uris: list[str], role: str, account_id: str | None,
                  check_catalogue: bool, rate_limit: str | None = None,
                  expiration: float | None = None, dpop_bound: bool = False,
                  auth_method: str | None = None, tls: dict[str, Any] | None = None) -> Issued[Client]:
    now = ctx.clock()
    # private_key_jwt (RFC 7523): its keys authenticate it, so it has no secret (password null, shown never)
    client_id, secret = new_client_id(), None if auth_method == "private_key_jwt" else new_client_secret()
    grant_types = [GRANT_CLIENT_CREDENTIALS] + ([GRANT_REFRESH_TOKEN] if refresh or redirect_uris else [])
    if redirect_uris:
        grant_types.insert(1, GRANT_AUTHORIZATION_CODE)
    async with ctx.engine.begin() as conn:
        account_id = await access.check_can_mint(ctx, conn, creator, account_id, role, scope)
        if check_catalogue:
            await check_grantable(ctx, conn, creator, account_id, scope)
        client = Client(
            client_id=client_id, kind="credential", name=name, owner_id=creator.id, account_id=account_id,
            role=role, secret_digest=digest(secret) if secret else None, prev_secret_digest=None,
            prev_secret_expires_at=None,
            is_public=False, public_id=str(int(now * 1000)), domain=domain, scope=scope, refresh=refresh,
            status=0, grant_types=tuple(grant_types), redirect_uris=tuple(redirect_uris),
            post_logout_redirect_uris=(), allowed_origins=(), first_party=False, refresh_enabled=bool(refresh),
            id_token_alg=None, revoke_refresh_on_logout=False, expiration=expiration, created_at=now,
            updated_at=now, rate_limit=rate_limit, dpop_bound_access_tokens=dpop_bound,
            registered_metadata={**({"token_endpoint_auth_method": auth_method} if auth_method else {}),
                                 **(tls or {})} or None)
        await clients_repo.insert(conn, client)
        await audit.record(conn, "credential.created", at=now, actor=creator.resource_name, client_id=client_id,
                           account_id=account_id, role=role, scope=scope, rate_limit=rate_limit,
                           expiration=expiration)
    return Issued(client, secret)


async def _owned(ctx: Services, conn: Any, owner: Principal, client_id: str) -> Client:
    # Only an id we could have issued reaches the database (no NUL or non-ASCII for PostgreSQL).
    valid = 0 < len(client_id) <= 64 and all(" " < c <= "~" for c in client_id)
    client = await clients_repo.get(conn, client_id) if valid else None
    if client is None or client.kind != "credential" or client.owner_id != owner.id:
        raise not_found("credential")
    return client


async def list_owned(ctx: Services, owner: Principal) -> list[Client]:
    async with ctx.engine.connect() as conn:
        return await clients_repo.list_by_owner(conn, owner.id, "credential")


async def get(ctx: Services, owner: Principal, client_id: str) -> Client:
    async with ctx.engine.connect() as conn:
        return await _owned(ctx, conn, owner, client_id)


async def update(ctx: Services, owner: Principal, client_id: str, body: dict[str, Any]) -> Client:
    """Partial update (PUT and PATCH alike): an absent field is unchanged; ``null`` is refused for every
    field (it never clears: a null scope or domain would widen the credential); ``scope`` names at least one
    scope from the owner's catalogue; ``domain: ""`` means no browser origin at all.

    ``token_endpoint_auth_method: private_key_jwt`` with ``jwks`` or ``jwks_uri`` upgrades a secret credential
    to a key pair: its secret (and a rotated one still in its overlap) is dropped, as an RFC 7592 update to
    private_key_jwt drops an OIDC client's; a keyed credential replaces its keys the same way. There is no way
    back to a secret (a new credential), nor from ``tls_client_auth``."""
    unknown = set(body) - set(UPDATABLE)
    if unknown:
        raise ApiError(400, "INVALID_REQUEST", f"field {sorted(unknown)[0]} cannot be changed")
    nulls = [k for k in UPDATABLE if k in body and body[k] is None]
    if nulls:
        raise ApiError(400, "INVALID_REQUEST", f"{nulls[0]} must not be null (omit it to leave it unchanged)")
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
        if not changes["scope"]:
            raise ApiError(400, "INVALID_SCOPE", "scope must name at least one scope (an empty scope would "
                           "widen the credential to its whole role)")
    if "rateLimit" in body:
        changes["rate_limit"] = parse_rate_limit(body["rateLimit"])
    if "status" in body:
        if body["status"] not in (0, 1) or isinstance(body["status"], bool):
            raise ApiError(400, "INVALID_REQUEST", "status must be 0 (active) or 1 (disabled)")
        changes["status"] = body["status"]
    now = ctx.clock()
    if "expiration" in body:
        changes["expiration"] = validate_expiration(body["expiration"], now, allow_none=True)
    method = body.get("token_endpoint_auth_method")
    if method is not None and method != "private_key_jwt":
        raise invalid(f"token_endpoint_auth_method can change only to private_key_jwt (a credential with a key "
                      f"pair has no secret; create a new credential for {str(method)[:40]!r})")
    async with ctx.engine.begin() as conn:
        client = await _owned(ctx, conn, owner, client_id)
        if "token_endpoint_auth_method" in body or any(n in body for n in KEY_NAMES):
            changes.update(_keys_change(ctx, client, body))
        if expired(client, now):  # its refresh tokens died with it: extending the credential does not revive them
            await grants_repo.revoke_grants_of_client(conn, client_id, now, "credential_expired")
        if "scope" in changes:
            account_id = await access.check_can_mint(ctx, conn, owner, client.account_id,
                                                     client.role or DEFAULT_ROLE, changes["scope"])
            await check_grantable(ctx, conn, owner, account_id, changes["scope"])
        await clients_repo.update_fields(conn, client_id, updated_at=now, **changes)
        if changes.get("status") == 1:
            await grants_repo.revoke_grants_of_client(conn, client_id, now, "credential_disabled")
        await audit.record(conn, "credential.updated", at=now, actor=owner.resource_name, client_id=client_id,
                           fields=sorted(changes))
        client = await _owned(ctx, conn, owner, client_id)
    ctx.changed("client", client_id)
    return client


def _keys_change(ctx: Services, client: Client, body: dict[str, Any]) -> dict[str, Any]:
    """The columns an update to private_key_jwt (or of a keyed credential's keys) changes: the keys in
    ``registered_metadata`` (``jwks`` or ``jwks_uri``, replacing the old ones), and no secret any more."""
    if client.auth_method == "tls_client_auth":
        raise invalid("token_endpoint_auth_method cannot change from tls_client_auth; create a new credential")
    keys = credential_keys(body, ctx.settings.jwks_uri_allowed_hosts, method=client.auth_method)
    kept = {k: v for k, v in (client.registered_metadata or {}).items() if k not in KEY_NAMES}
    return {"registered_metadata": {**kept, "token_endpoint_auth_method": "private_key_jwt", **keys},
            "secret_digest": None, "prev_secret_digest": None, "prev_secret_expires_at": None}


async def rotate_secret(ctx: Services, owner: Principal, client_id: str) -> Issued[Client]:
    """New secret now; the old one keeps working for ``secret_rotation_overlap`` seconds. A credential with a
    key pair (private_key_jwt) has no secret to rotate: the client publishes new keys instead."""
    now = ctx.clock()
    secret = new_client_secret()
    async with ctx.engine.begin() as conn:
        client = await _owned(ctx, conn, owner, client_id)
        if client.auth_method == "private_key_jwt":
            raise ApiError(400, "INVALID_REQUEST", "this credential authenticates with private_key_jwt: it has no "
                           "secret to rotate (update its jwks or jwks_uri)")
        overlap = ctx.settings.secret_rotation_overlap
        await clients_repo.update_fields(
            conn, client_id, secret_digest=digest(secret), updated_at=now,
            prev_secret_digest=client.secret_digest if overlap else None,
            prev_secret_expires_at=now + overlap if overlap else None)
        await audit.record(conn, "credential.secret_rotated", at=now, actor=owner.resource_name,
                           client_id=client_id, overlap_seconds=overlap)
        client = await _owned(ctx, conn, owner, client_id)
    ctx.changed("client", client_id)
    return Issued(client, secret)


async def revoke(ctx: Services, owner: Principal, client_id: str) -> None:
    """Delete a credential: its refresh tokens die at once, its access tokens fail introspection."""
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        await _owned(ctx, conn, owner, client_id)
        await clients_repo.update_fields(conn, client_id, deleted_at=now, status=1, updated_at=now)
        await grants_repo.revoke_grants_of_client(conn, client_id, now, "credential_revoked")
        await audit.record(conn, "credential.revoked", at=now, actor=owner.resource_name, client_id=client_id)
    ctx.changed("client", client_id)




async def set_rate_limit(ctx: Services, client_id: str, rate_limit: str, actor: str = "operator") -> Client:
    """The operator's ``keyturn credentials limit``: set (``N/S``) or remove (``none``) a credential's quota."""
    value = parse_rate_limit(rate_limit, "rate limit")
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        client = await clients_repo.get(conn, client_id) if is_client_id(client_id) else None
        if client is None or client.kind != "credential" or client.deleted_at is not None:
            raise not_found("credential")
        await clients_repo.update_fields(conn, client_id, rate_limit=value, updated_at=now)
        await audit.record(conn, "credential.updated", at=now, actor=actor, client_id=client_id,
                           fields=["rate_limit"])
        client = replace(client, rate_limit=value, updated_at=now)
    ctx.changed("client", client_id)
    return client


async def set_expiration(ctx: Services, client_id: str, expiration: str, actor: str = "operator") -> Client:
    """The operator's ``keyturn credentials expire``: set (ISO 8601, in the future) or remove (``none``) a
    credential's expiration. A credential found expired loses its refresh tokens first, as on update."""
    now = ctx.clock()
    value = validate_expiration(expiration, now, allow_none=True)
    async with ctx.engine.begin() as conn:
        client = await clients_repo.get(conn, client_id) if is_client_id(client_id) else None
        if client is None or client.kind != "credential" or client.deleted_at is not None:
            raise not_found("credential")
        if expired(client, now):
            await grants_repo.revoke_grants_of_client(conn, client_id, now, "credential_expired")
        await clients_repo.update_fields(conn, client_id, expiration=value, updated_at=now)
        await audit.record(conn, "credential.updated", at=now, actor=actor, client_id=client_id,
                           fields=["expiration"])
        client = replace(client, expiration=value, updated_at=now)
    ctx.changed("client", client_id)
    return client
