"""Minting access tokens (RFC 9068 JWTs) and issuing / rotating refresh tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core import jose
from keyturn.core.durations import parse_duration
from keyturn.core.errors import InvalidGrant
from keyturn.core.models import Client, Grant
from keyturn.core.secrets import digest, new_refresh_token, new_token_id
from keyturn.services.context import Services
from keyturn.settings import Settings
from keyturn.storage import audit
from keyturn.storage import grants as grants_repo

OPERATOR_CLIENT_ID = "keyturn-operator"


def mint_access_token(ctx: Services, *, sub: str, client_id: str, scope: str, kind: str, now: float,
                      account_id: str | None = None, role: str | None = None, grant_id: str | None = None,
                      lifetime: int | None = None, extra: dict[str, Any] | None = None) -> tuple[str, int]:
    """Sign an RFC 9068 access token; returns (jwt, expires_in seconds)."""
    ttl = lifetime or ctx.settings.access_token_ttl
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": ctx.settings.issuer, "sub": sub, "aud": ctx.settings.token_audience,
        "exp": iat + ttl, "iat": iat, "nbf": iat, "jti": new_token_id(),
        "client_id": client_id, "scope": scope, "kind": kind,
    }
    if account_id is not None:
        claims["account_id"] = account_id
    if role is not None:
        claims["role"] = role
    if grant_id is not None:
        claims["gid"] = grant_id
    if extra:
        claims.update(extra)
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    return jose.sign(claims, key, typ="at+jwt"), ttl


@dataclass(frozen=True, slots=True)
class Rotation:
    grant: Grant
    scope: str
    refresh_token: str


def refresh_lifetime(settings: Settings, client: Client) -> int | None:
    """Seconds a refresh-token family of this client lives, or None when the client gets no refresh token:
    a credential's own ``refresh`` duration (seed 000's ``"1d"``), a relying party's ``user_refresh_ttl``."""
    if not client.refresh_enabled:
        return None
    if client.kind == "credential":
        return parse_duration(client.refresh) if client.refresh else None
    return settings.user_refresh_ttl


async def start_grant(ctx: Services, conn: AsyncConnection, *, client: Client, user_id: str | None,
                      account_id: str | None, grant_type: str, scope: str, now: float, grant_id: str | None = None,
                      session_id: str | None = None, auth_time: float | None = None) -> tuple[Grant, str | None]:
    """Create a grant and, when the client gets refresh tokens (:func:`refresh_lifetime`), the first refresh
    token of its family. Without one the grant lives as long as an access token (revocable by its id)."""
    lifetime = refresh_lifetime(ctx.settings, client)
    grant = Grant(id=grant_id or str(uuid.uuid4()), client_id=client.client_id, user_id=user_id,
                  account_id=account_id, grant_type=grant_type, scope=scope, session_id=session_id,
                  auth_time=auth_time, created_at=now, expires_at=now + (lifetime or ctx.settings.access_token_ttl),
                  revoked_at=None)
    await grants_repo.create_grant(conn, grant)
    if not lifetime:
        return grant, None
    token = new_refresh_token()
    await grants_repo.insert_refresh_token(
        conn, digest=digest(token), grant_id=grant.id, generation=1, scope=scope, issued_at=now,
        expires_at=min(grant.expires_at, now + ctx.settings.refresh_idle_ttl))
    return grant, token


async def rotate_refresh_token(conn: AsyncConnection, *, token: str, client_id: str, now: float, idle: int,
                               ip: str | None = None) -> Rotation | InvalidGrant:
    """RFC 9700 §4.14.2: consume a refresh token and issue its successor in one transaction.

    A token that was already used revokes its whole grant (reuse detection): that case
    *returns* the error so the caller commits the revocation before raising it. Other
    failures raise (nothing to keep). A token of another client is refused without
    consuming it (RFC 6749 §6: the refresh token is bound to the client).
    """
    d = digest(token)
    consumed = await grants_repo.consume_refresh_token(conn, d, client_id, now)  # the one statement that decides
    if consumed is None:  # unknown, another client's (left unused), or already used: find out which
        found = await grants_repo.find_refresh_token(conn, d)
        if found is None:
            raise InvalidGrant("refresh token is invalid, expired or revoked")
        if found.client_id != client_id:
            raise InvalidGrant("refresh token is invalid, expired or revoked", detail="refresh token of another client")
        if await grants_repo.revoke_grant(conn, found.grant_id, now, "refresh_token_reuse"):
            grant = await grants_repo.get_grant(conn, found.grant_id)
            await audit.record(conn, "refresh_token.reuse_detected", at=now, client_id=client_id,
                               subject=grant.user_id if grant else None, ip=ip, grant_id=found.grant_id,
                               generation=found.generation)
        return InvalidGrant("refresh token is invalid, expired or revoked", detail="replayed refresh token")
    grant = await grants_repo.get_grant(conn, consumed.grant_id)
    if grant is None or grant.revoked_at is not None or now >= grant.expires_at or now >= consumed.expires_at:
        # Raised inside the transaction: the consumption above is rolled back with it.
        raise InvalidGrant("refresh token is invalid, expired or revoked", detail="grant revoked or expired")
    successor = new_refresh_token()
    await grants_repo.insert_refresh_token(
        conn, digest=digest(successor), grant_id=grant.id, generation=consumed.generation + 1,
        scope=consumed.scope, issued_at=now, expires_at=min(grant.expires_at, now + idle))
    return Rotation(grant=grant, scope=consumed.scope, refresh_token=successor)
