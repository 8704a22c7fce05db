"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), for OIDC clients.

Who may register is the operator's choice (``KEYTURN_REGISTRATION``, docs/registration.md): the holder of an
initial access token the operator issued (``keyturn registration initial-token issue``; digest stored,
optionally expiring and limited to N uses, revocable), or also a signed-in user (who then owns the client).
A registered client gets a registration access token (RFC 7592 §1.3): shown once, stored as a digest, and
replaced by a new one in every RFC 7592 answer (GET and PUT) so that the answer can carry it
(RFC 7592 §3 requires it, and only its digest is kept). A dynamic client is never first party (it sees the
consent page) and asks only for scopes the server advertises. The metadata is parsed by
keyturn.services.oidc.metadata, the same parser as ``POST /api/oidc-clients``; its refusals are answered as
RFC 7591 §3.2.2 errors here.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from keyturn.core.errors import (
    ApiError,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidToken,
    TooManyRequests,
)
from keyturn.core.models import Client, InitialAccessToken, Issued, Principal, is_client_id
from keyturn.core.mtls import TLS_METHODS
from keyturn.core.secrets import (
    PREFIX_REGISTRATION_ACCESS,
    digest,
    new_client_id,
    new_initial_access_token,
    new_registration_access_token,
    new_token_id,
)
from keyturn.services.context import Services
from keyturn.services.oidc import metadata
from keyturn.services.oidc.clients import build
from keyturn.services.oidc.request import OIDC_SCOPES
from keyturn.storage import audit
from keyturn.storage import clients as clients_repo
from keyturn.storage import grants as grants_repo
from keyturn.storage import registration as repo

__all__ = ["InitialAccessToken", "Registered", "delete", "issue_initial_token", "list_initial_tokens", "read",
           "register", "revoke_initial_token", "update"]

RATE_WINDOW = 3600.0  # seconds: KEYTURN_REGISTRATION_LIMIT registrations per source address


@dataclass(frozen=True, slots=True)
class Registered:
    """A registered client with what is shown this once: its secret (new clients) and registration token."""

    client: Client
    secret: str | None
    registration_token: str


@asynccontextmanager
async def _as_registration_errors() -> AsyncIterator[None]:
    """The parser's and validators' management-API errors as RFC 7591 §3.2.2 errors."""
    try:
        yield
    except ApiError as exc:  # (the parser and validators raise only 400s)
        cls = InvalidRedirectUri if exc.code == "INVALID_REDIRECT_URI" else InvalidClientMetadata
        raise cls(exc.message) from None


def _scopes_supported(ctx: Services) -> frozenset[str]:
    return frozenset(ctx.settings.allowed_scopes or ()) | frozenset(OIDC_SCOPES)


async def issue_initial_token(ctx: Services, *, expires_in: float | None, uses: int | None,
                              actor: str = "operator") -> Issued[InitialAccessToken]:
    """A new initial access token (RFC 7591 §3); the plaintext is in the answer only."""
    if uses is not None and uses < 1:
        raise ApiError(400, "INVALID_REQUEST", "uses must be at least 1")
    if expires_in is not None and expires_in <= 0:
        raise ApiError(400, "INVALID_REQUEST", "the lifetime must be positive")
    now, token, token_id = ctx.clock(), new_initial_access_token(), new_token_id()
    expires_at = now + expires_in if expires_in is not None else None
    async with ctx.engine.begin() as conn:
        await repo.insert_initial_token(conn, id=token_id, digest=digest(token), now=now, created_by=actor,
                                        expires_at=expires_at, uses=uses)
        await audit.record(conn, "registration.initial_token_issued", at=now, actor=actor, subject=token_id,
                           expires_at=expires_at, uses=uses)
    return Issued(InitialAccessToken(token_id, now, actor, expires_at, uses, None), token)


async def revoke_initial_token(ctx: Services, token_id: str, actor: str = "operator") -> None:
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        if not await repo.revoke_initial_token(conn, token_id, now):
            raise ApiError(404, "NOT_FOUND", "initial access token not found (or already revoked)")
        await audit.record(conn, "registration.initial_token_revoked", at=now, actor=actor, subject=token_id)


async def list_initial_tokens(ctx: Services) -> list[InitialAccessToken]:
    async with ctx.engine.connect() as conn:
        return await repo.list_initial_tokens(conn)


async def register(ctx: Services, body: Mapping[str, Any], *, initial_token: str | None, user: Principal | None,
                   ip: str | None) -> Registered:
    """RFC 7591 §3.1: register a client from ``body``; the caller presented ``initial_token`` or is ``user``."""
    now = ctx.clock()
    if initial_token is not None:  # authentication first (401 before any 400); spent below, with the insert
        async with ctx.engine.connect() as conn:
            if not await repo.live_initial_token(conn, digest(initial_token), now):
                raise InvalidToken("the initial access token is invalid, expired, revoked or used up")
    async with _as_registration_errors():
        meta = metadata.parse(body, dynamic=True, jwks_uri_hosts=ctx.settings.jwks_uri_allowed_hosts)
        token = new_registration_access_token()
        client, secret = build(meta, client_id=new_client_id(), now=now, scopes_supported=_scopes_supported(ctx),
                               owner_id=user.id if user is not None else None, registration_digest=digest(token),
                               fapi2_default=ctx.settings.fapi2)
    retry = await ctx.shared.take("registration", ip or "-", ctx.settings.registration_limit, RATE_WINDOW)
    if retry is not None:
        raise TooManyRequests("too many registrations from this address; retry later", retry_after=retry)
    async with ctx.engine.begin() as conn:
        if initial_token is None:
            assert user is not None  # the endpoint lets no request without one or the other through
            by = user.resource_name
        else:
            token_id = await repo.spend_initial_token(conn, digest(initial_token), now)
            if token_id is None:  # spent, revoked or expired since the check above
                raise InvalidToken("the initial access token is invalid, expired, revoked or used up")
            by = f"initial-token:{token_id}"
        await clients_repo.insert(conn, client)
        await audit.record(conn, "oidc_client.registered", at=now, actor=by, client_id=client.client_id, ip=ip,
                           public=client.is_public, redirect_uris=list(client.redirect_uris))
    ctx.origins.invalidate()
    return Registered(client, secret, token)


async def _authorized(ctx: Services, client_id: str, token: str) -> Client:
    """The dynamically registered client whose registration access token ``token`` is (RFC 7592 §2), else
    ``invalid_token`` (401) whatever the reason: an unknown client and a wrong token look alike (§2.1)."""
    client = None
    if is_client_id(client_id):
        async with ctx.engine.connect() as conn:  # not the cache: the digest changes on every answer
            client = await clients_repo.get(conn, client_id)
    presented = digest(token)
    stored = client.registration_digest if client is not None and client.kind == "oidc" else None
    if not token.startswith(PREFIX_REGISTRATION_ACCESS) or not hmac.compare_digest(
            presented, stored or digest("keyturn-no-registration")) or stored is None:
        raise InvalidToken("the registration access token is invalid", detail=f"client {client_id[:64]!r}")
    assert client is not None
    return client


async def _rotate(conn: Any, client: Client, new: str | None) -> None:
    assert client.registration_digest is not None
    if not await repo.rotate_registration_token(conn, client.client_id, client.registration_digest,
                                                digest(new) if new else None):
        raise InvalidToken("the registration access token is invalid", detail="rotated by another request")


async def read(ctx: Services, client_id: str, token: str) -> Registered:
    """RFC 7592 §2.1: the client's current configuration, with a new registration access token."""
    client = await _authorized(ctx, client_id, token)
    new = new_registration_access_token()
    async with ctx.engine.begin() as conn:
        await _rotate(conn, client, new)
    ctx.changed("client", client_id)
    return Registered(replace(client, registration_digest=digest(new)), None, new)


async def update(ctx: Services, client_id: str, token: str, body: Mapping[str, Any], *, ip: str | None) -> Registered:
    """RFC 7592 §2.2: replace the client's metadata (omitted values take their defaults), keeping its
    client_id and secret; a new registration access token."""
    client = await _authorized(ctx, client_id, token)
    if body.get("client_id") != client_id:
        raise InvalidClientMetadata("client_id is required and must be this client's (RFC 7592 §2.2)")
    sent = [f for f in metadata.SERVER_FIELDS if f in body]
    if sent:
        raise InvalidClientMetadata(f"{sent[0]} must not be sent in an update (RFC 7592 §2.2)")
    secret = body.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or client.secret_digest is None
                               or not hmac.compare_digest(digest(secret), client.secret_digest)):
        raise InvalidClientMetadata("client_secret does not match the client's secret (RFC 7592 §2.2)")
    fields = {k: v for k, v in body.items() if k not in ("client_id", "client_secret")}
    now = ctx.clock()
    async with _as_registration_errors():
        meta = metadata.parse(fields, dynamic=True, jwks_uri_hosts=ctx.settings.jwks_uri_allowed_hosts)
        if meta.public != client.is_public:
            raise InvalidClientMetadata("token_endpoint_auth_method cannot change between none and a secret "
                                        "method; register a new client")
        if (meta.auth_method in TLS_METHODS) != (client.auth_method in TLS_METHODS):
            # RFC 8705: a certificate client has no secret, and a secret client would keep its secret
            raise InvalidClientMetadata("token_endpoint_auth_method cannot change to or from tls_client_auth or "
                                        "self_signed_tls_client_auth; register a new client")
        keyed = meta.auth_method in metadata.KEYLESS_METHODS
        if not meta.public and not keyed and client.secret_digest is None:
            raise InvalidClientMetadata("a private_key_jwt client has no secret: it cannot change to a secret "
                                        "method; register a new client")
        new = new_registration_access_token()
        built, _ = build(meta, client_id=client_id, now=now, scopes_supported=_scopes_supported(ctx),
                         owner_id=client.owner_id, registration_digest=digest(new),
                         fapi2_default=ctx.settings.fapi2 or client.fapi2)
    # a change to private_key_jwt drops the secret (docs/registration.md): the keys authenticate it from now on
    kept_secret = None if meta.auth_method == "private_key_jwt" else client.secret_digest
    updated = replace(built, secret_digest=kept_secret, created_at=client.created_at)
    changes = {k: getattr(updated, k) for k in (
        "name", "scope", "grant_types", "redirect_uris", "post_logout_redirect_uris", "allowed_origins",
        "refresh_enabled", "id_token_alg", "registered_metadata", "updated_at", "secret_digest")}
    async with ctx.engine.begin() as conn:
        await _rotate(conn, client, new)
        await clients_repo.update_fields(conn, client_id, **changes)
        await audit.record(conn, "oidc_client.updated", at=now, actor=f"registration:{client_id}",
                           client_id=client_id, ip=ip, redirect_uris=list(updated.redirect_uris))
    ctx.changed("client", client_id)
    ctx.origins.invalidate()
    return Registered(updated, None, new)


async def delete(ctx: Services, client_id: str, token: str, *, ip: str | None) -> None:
    """RFC 7592 §2.3: deprovision the client; its refresh tokens die, its registration token stops working."""
    client = await _authorized(ctx, client_id, token)
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        await _rotate(conn, client, None)
        await clients_repo.update_fields(conn, client_id, deleted_at=now, status=1, updated_at=now)
        await grants_repo.revoke_grants_of_client(conn, client_id, now, "client_deleted")
        await audit.record(conn, "oidc_client.deleted", at=now, actor=f"registration:{client_id}",
                           client_id=client_id, ip=ip)
    ctx.changed("client", client_id)
    ctx.origins.invalidate()

