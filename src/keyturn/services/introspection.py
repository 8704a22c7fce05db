"""RFC 7662 introspection and RFC 7009 revocation, for JWT access tokens and opaque refresh tokens."""

from __future__ import annotations

import functools
from typing import Any

from keyturn.core import jose
from keyturn.core.errors import InvalidRequest
from keyturn.core.models import Client
from keyturn.core.secrets import PREFIX_REFRESH, digest
from keyturn.services.context import Services
from keyturn.settings import Settings
from keyturn.storage import audit
from keyturn.storage import grants as grants_repo

INACTIVE: dict[str, Any] = {"active": False}


ACCESS_TOKEN_CLAIMS = ("exp", "iat", "iss", "sub", "aud", "jti", "client_id")


@functools.lru_cache(maxsize=16)
def access_token_expect(settings: Settings) -> jose.Expect:
    """The rules for our access tokens wherever Keyturn accepts one (RFC 9068 §4): ``typ`` at+jwt, exact
    ``iss``, the configured audience in ``aud``, ``exp`` exact, ``nbf``/``iat`` no further in the future
    than the clock leeway. ``keyturn.rs`` applies the same :func:`keyturn.core.jose.check_claims`."""
    return jose.Expect(issuer=settings.issuer, typ="at+jwt", audience=settings.token_audience,
                       require=ACCESS_TOKEN_CLAIMS, leeway=settings.clock_leeway)


async def verify_access_token(ctx: Services, token: str, now: float) -> dict[str, Any] | None:
    """Claims of a live access token, or None: signature, claims, revocation, client and grant state."""
    await ctx.keys.maybe_reload(now)
    expect = access_token_expect(ctx.settings)
    verified = ctx.verified_tokens
    claims = verified.get(token, ctx.keys.verification_keys)
    if claims is not None:
        try:  # the signature was checked before; times move on
            jose.check_claims(claims, expect, now)
        except jose.TokenInvalid:
            return None
    else:
        parsed = await _verify(ctx, token, now, expect)
        if parsed is None:
            return None
        claims = parsed.claims
        verified.put(token, str(parsed.kid), claims)
    client_id = claims["client_id"]
    if client_id != "keyturn-operator":
        client = await ctx.client(str(client_id), now)
        if client is None or not client.active(now):
            return None
    if await ctx.revocations.is_revoked(claims, now):
        return None
    return claims


async def _verify(ctx: Services, token: str, now: float, expect: jose.Expect) -> jose.ParsedJWS | None:
    """Verify with our keys; on an unknown kid reload once (a key rotated by another process)."""
    try:
        parsed = jose.parse_jws(token)
    except jose.TokenInvalid:
        return None
    kid = parsed.kid
    if isinstance(kid, str) and kid not in ctx.keys.verification_keys:
        await ctx.keys.reload_for_kid(kid, now)
    key = ctx.keys.verification_keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        return None
    try:
        jose.verify_parsed(parsed, key.alg, key.public, expect, now)
    except jose.TokenInvalid:
        return None
    return parsed


async def introspect(ctx: Services, caller: Client, token: str | None, hint: str | None, now: float) -> dict[str, Any]:
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


async def _introspect_refresh(ctx: Services, caller: Client, token: str, now: float) -> dict[str, Any]:
    async with ctx.engine.connect() as conn:
        row = await grants_repo.find_refresh_token(conn, digest(token))
        if row is None or row.used_at is not None or now >= row.expires_at:
            return INACTIVE
        grant = await grants_repo.get_grant(conn, row.grant_id)
    # Only the client the token was issued to learns about its refresh tokens.
    if grant is None or grant.revoked_at is not None or now >= grant.expires_at or grant.client_id != caller.client_id:
        return INACTIVE
    out: dict[str, Any] = {"active": True, "token_type": "refresh_token", "scope": row.scope,
                           "client_id": grant.client_id, "exp": int(row.expires_at), "iat": int(row.issued_at),
                           "iss": ctx.settings.issuer}
    if grant.user_id:
        out["sub"] = grant.user_id
    return out


async def revoke(ctx: Services, caller: Client, token: str | None, now: float, ip: str | None) -> None:
    """RFC 7009 §2.1: revoke if the token is the caller's; unknown tokens are a silent success."""
    if not token:
        raise InvalidRequest("token is required")
    if token.startswith(PREFIX_REFRESH):
        async with ctx.engine.begin() as conn:
            row = await grants_repo.find_refresh_token(conn, digest(token))
            if row is None:
                return
            grant = await grants_repo.get_grant(conn, row.grant_id)
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
    parsed = await _verify(ctx, token, now, access_token_expect(ctx.settings))
    if parsed is None:
        return
    claims = parsed.claims
    if claims["client_id"] != caller.client_id:
        if caller.is_public:
            return
        raise InvalidRequest("this token was not issued to the requesting client")
    async with ctx.engine.begin() as conn:
        await grants_repo.revoke_access_token(conn, claims["jti"], float(claims["exp"]))
        await audit.record(conn, "access_token.revoked", at=now, client_id=caller.client_id, ip=ip,
                           jti=claims["jti"])
    ctx.revocations_changed()
