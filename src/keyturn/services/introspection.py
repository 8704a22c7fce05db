"""RFC 7662 introspection and RFC 7009 revocation, for JWT access tokens and opaque refresh tokens.

Revocations are written in group commit (services/writes.py): :func:`revoke_many` is a batch function.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn import metrics
from keyturn.core import jose
from keyturn.core.errors import InvalidRequest, OAuthError
from keyturn.core.models import Client, Grant
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


_VERIFIED_HIT = metrics.CACHE_LOOKUPS.labels("verified_tokens", "hit")
_VERIFIED_MISS = metrics.CACHE_LOOKUPS.labels("verified_tokens", "miss")


async def verify_access_token(ctx: Services, token: str, now: float) -> dict[str, Any] | None:
    """Claims of a live access token, or None: signature, claims, revocation, client and grant state."""
    await ctx.keys.maybe_reload(now)
    expect = access_token_expect(ctx.settings)
    verified = ctx.verified_tokens
    claims = verified.get(token, ctx.keys.verification_keys)
    if claims is not None:
        _VERIFIED_HIT.inc()
        try:  # the signature was checked before; times move on
            jose.check_claims(claims, expect, now)
        except jose.TokenInvalid:
            return None
    else:
        _VERIFIED_MISS.inc()
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
    out: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "kind", "account_id", "role"):
        if k in claims:
            out[k] = claims[k]
    cnf = claims.get("cnf")
    bound: dict[str, str] = {}
    if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str):  # RFC 9449 §6.2: the key it is bound to
        out["token_type"] = "DPoP"
        bound["jkt"] = cnf["jkt"]
    if isinstance(cnf, dict) and isinstance(cnf.get("x5t#S256"), str):  # RFC 8705 §3.2: the certificate
        bound["x5t#S256"] = cnf["x5t#S256"]
    if bound:
        out["cnf"] = bound
    return out


async def _introspect_refresh(ctx: Services, caller: Client, token: str, now: float) -> dict[str, Any]:
    d = digest(token)
    async with ctx.engine.connect() as conn:
        found = (await grants_repo.find_refresh_tokens(conn, [d])).get(d)
    if found is None:
        return INACTIVE
    row, grant = found
    # Only the client the token was issued to learns about its refresh tokens.
    if (row.used_at is not None or now >= row.expires_at or grant.revoked_at is not None or now >= grant.expires_at
            or grant.client_id != caller.client_id):
        return INACTIVE
    out: dict[str, Any] = {"active": True, "token_type": "refresh_token", "scope": row.scope,
                           "client_id": grant.client_id, "exp": int(row.expires_at), "iat": int(row.issued_at),
                           "iss": ctx.settings.issuer}
    if grant.user_id:
        out["sub"] = grant.user_id
    return out


@dataclass(frozen=True, slots=True)
class Revoke:
    """One revocation request's unit (group commit): a refresh token by digest, or an access token by jti."""

    client_id: str
    public: bool
    now: float
    ip: str | None
    refresh_digest: str | None = None
    jti: str | None = None
    exp: float = 0.0


async def revoke_many(conn: AsyncConnection, units: Sequence[Revoke]) -> list[OAuthError | None]:
    """Batch function (group commit), RFC 7009 §2.1: revoke each token that is its caller's; an unknown token,
    or another client's sent by a public client, is a silent success. Revoking a refresh token revokes its
    whole grant."""
    found = await grants_repo.find_refresh_tokens(conn, (u.refresh_digest for u in units if u.refresh_digest))
    outcomes: list[OAuthError | None] = [None] * len(units)
    grant_of: dict[int, Grant] = {}
    access: dict[str, float] = {}
    for i, u in enumerate(units):
        if u.jti is not None:
            access[u.jti] = u.exp
            continue
        hit = found.get(u.refresh_digest or "")
        if hit is None:
            continue
        grant = hit[1]
        if grant.client_id != u.client_id:
            if not u.public:
                outcomes[i] = InvalidRequest("this token was not issued to the requesting client")
            continue
        grant_of[i] = grant
    now = max(u.now for u in units)
    revoked = await grants_repo.revoke_grants(conn, (g.id for g in grant_of.values()), now, "revoked_by_client")
    await grants_repo.revoke_access_tokens(conn, access)
    events: list[audit.Event] = []
    for i, u in enumerate(units):
        mine = grant_of.get(i)
        if mine is not None and mine.id in revoked:
            revoked.discard(mine.id)
            events.append(audit.Event("grant.revoked", at=u.now, client_id=u.client_id, ip=u.ip,
                                      subject=mine.user_id, detail={"grant_id": mine.id}))
        elif u.jti is not None:
            events.append(audit.Event("access_token.revoked", at=u.now, client_id=u.client_id, ip=u.ip,
                                      detail={"jti": u.jti}))
    await audit.record_many(conn, events)
    return outcomes


async def revoke(ctx: Services, caller: Client, token: str | None, now: float, ip: str | None) -> None:
    """RFC 7009 §2.1: revoke if the token is the caller's; unknown tokens are a silent success."""
    if not token:
        raise InvalidRequest("token is required")
    unit = Revoke(client_id=caller.client_id, public=caller.is_public, now=now, ip=ip)
    if token.startswith(PREFIX_REFRESH):
        unit = replace(unit, refresh_digest=digest(token))
    else:
        parsed = await _verify(ctx, token, now, access_token_expect(ctx.settings))
        if parsed is None:
            return
        claims = parsed.claims
        if claims["client_id"] != caller.client_id:
            if caller.is_public:
                return
            raise InvalidRequest("this token was not issued to the requesting client")
        unit = replace(unit, jti=claims["jti"], exp=float(claims["exp"]))
    refused = await ctx.writes.submit(revoke_many, unit)
    if refused is not None:
        raise refused
    ctx.revocations_changed()
