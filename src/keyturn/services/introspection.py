"""RFC 7662 introspection and RFC 7009 revocation, for JWT access tokens and opaque refresh tokens."""

from __future__ import annotations

from typing import Any

import jwt

from keyturn.core import jose
from keyturn.core.errors import InvalidRequest
from keyturn.core.models import Client
from keyturn.core.secrets import PREFIX_REFRESH, digest
from keyturn.services.context import Context
from keyturn.storage import audit
from keyturn.storage import grants as grants_repo

INACTIVE: dict[str, Any] = {"active": False}


async def verify_access_token(ctx: Context, token: str, now: float) -> dict[str, Any] | None:
    """Claims of a live access token, or None: signature, expiry, revocation, client and grant state."""
    await ctx.keys.maybe_reload(now)
    verified = ctx.extras.get("verified_tokens")
    if not isinstance(verified, jose.VerifiedTokens):
        verified = ctx.extras["verified_tokens"] = jose.VerifiedTokens()
    claims = verified.get(token, ctx.keys.verification_keys)
    if claims is not None:
        try:
            jose.check_times(claims, now)
        except jose.TokenInvalid:
            return None
    else:
        claims = await _verify(ctx, token, now, require=("exp", "iat", "iss", "sub", "jti", "client_id"))
        if claims is None:
            return None
        verified.put(token, str(_kid(token)), claims)
    if claims["exp"] <= now:
        return None
    client_id = claims["client_id"]
    if client_id != "keyturn-operator":
        client = await ctx.client(client_id, now)
        if client is None or not client.active(now):
            return None
    revoked_cache = ctx.extras.get("revocation_check")
    if revoked_cache is not None:
        if await revoked_cache(ctx, claims, now):  # type: ignore[operator]
            return None
    else:
        async with ctx.engine.connect() as conn:
            if await grants_repo.access_token_revoked(conn, claims["jti"]):
                return None
            gid = claims.get("gid")
            if gid:
                grant = await grants_repo.get_grant(conn, gid)
                if grant is None or grant.revoked_at is not None:
                    return None
    return claims


async def _verify(ctx: Context, token: str, now: float, require: tuple[str, ...]) -> dict[str, Any] | None:
    """Verify with our keys; on an unknown kid reload once (a key rotated by another process)."""
    for attempt in (0, 1):
        try:
            return jose.verify(token, ctx.keys.verification_keys, issuer=ctx.settings.issuer, typ="at+jwt",
                               require=require, now=now)
        except jose.TokenInvalid as exc:
            if attempt or str(exc) != "unknown kid" or not await ctx.keys.reload_for_kid(_kid(token), now):
                return None
    return None


def _kid(token: str) -> object:
    try:
        return jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None


async def introspect(ctx: Context, caller: Client, token: str | None, hint: str | None, now: float) -> dict[str, Any]:
    if not token:
        raise InvalidRequest("token is required")
    if token.startswith(PREFIX_REFRESH):
        return await _introspect_refresh(ctx, caller, token, now)
    claims = await verify_access_token(ctx, token, now)
    if claims is None:
        return INACTIVE
    out = {"active": True, "token_type": "Bearer"}
    for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "kind", "account_id", "role"):
        if k in claims:
            out[k] = claims[k]
    return out


async def _introspect_refresh(ctx: Context, caller: Client, token: str, now: float) -> dict[str, Any]:
    async with ctx.engine.connect() as conn:
        row = await grants_repo.find_refresh_token(conn, digest(token))
        if row is None or row["used_at"] is not None or now >= row["expires_at"]:
            return INACTIVE
        grant = await grants_repo.get_grant(conn, row["grant_id"])
    # Only the client the token was issued to learns about its refresh tokens.
    if grant is None or grant.revoked_at is not None or now >= grant.expires_at or grant.client_id != caller.client_id:
        return INACTIVE
    out: dict[str, Any] = {"active": True, "token_type": "refresh_token", "scope": row["scope"],
                           "client_id": grant.client_id, "exp": int(row["expires_at"]), "iat": int(row["issued_at"]),
                           "iss": ctx.settings.issuer}
    if grant.user_id:
        out["sub"] = grant.user_id
    return out


async def revoke(ctx: Context, caller: Client, token: str | None, now: float, ip: str | None) -> None:
    """RFC 7009 §2.1: revoke if the token is the caller's; unknown tokens are a silent success."""
    if not token:
        raise InvalidRequest("token is required")
    if token.startswith(PREFIX_REFRESH):
        async with ctx.engine.begin() as conn:
            row = await grants_repo.find_refresh_token(conn, digest(token))
            if row is None:
                return
            grant = await grants_repo.get_grant(conn, row["grant_id"])
            if grant is None:
                return
            if grant.client_id != caller.client_id:
                if caller.is_public:
                    return
                raise InvalidRequest("this token was not issued to the requesting client")
            # RFC 7009 §2.1: revoking a refresh token invalidates the whole grant.
            if await grants_repo.revoke_grant(conn, grant.id, now, "revoked_by_client"):
                await audit.record(conn, "grant.revoked", at=now, client_id=caller.client_id, ip=ip,
                                   subject=grant.user_id, grant_id=grant.id)
        ctx.revocations_changed()
        return
    claims = await _verify(ctx, token, now, require=("exp", "jti", "client_id"))
    if claims is None:
        return
    if claims["client_id"] != caller.client_id:
        if caller.is_public:
            return
        raise InvalidRequest("this token was not issued to the requesting client")
    async with ctx.engine.begin() as conn:
        await grants_repo.revoke_access_token(conn, claims["jti"], float(claims["exp"]))
        await audit.record(conn, "access_token.revoked", at=now, client_id=caller.client_id, ip=ip,
                           jti=claims["jti"])
    ctx.revocations_changed()
