"""ID token and userinfo claims (OIDC Core §2, §5.4; seed 001's claims table)."""

from __future__ import annotations

import secrets
from typing import Any

from keyturn.core import jose
from keyturn.core.jose import CLIENT_ID_TOKEN_ALGS
from keyturn.core.models import Client, User
from keyturn.services import fapi
from keyturn.services.context import Services
from keyturn.settings import Settings

# OIDC Core §5.4: the claims each scope releases (seed 001's table).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "profile": ("given_name", "family_name", "preferred_username"),
}
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
                    "email", "email_verified", "phone_number", "phone_number_verified",
                    "given_name", "family_name", "preferred_username")


def user_claims(user: User, scope: tuple[str, ...]) -> dict[str, Any]:
    """``sub`` plus the claims the scope releases. Seed 001: at minimum ``sub`` and one of
    ``phone_number`` or ``email`` are present, so plain ``openid`` carries the identifiers the user has."""
    values: dict[str, Any] = {
        "email": user.email, "email_verified": user.email_verified,
        "phone_number": user.phone_number, "phone_number_verified": user.phone_number_verified,
        "given_name": user.given_name, "family_name": user.family_name,
        "preferred_username": user.preferred_username,
    }
    out: dict[str, Any] = {"sub": user.id}
    names: list[str] = ["email", "phone_number"]
    for s in scope:
        names.extend(SCOPE_CLAIMS.get(s, ()))
    for name in names:
        if name in ("email_verified",) and user.email is None:
            continue
        if name in ("phone_number_verified",) and user.phone_number is None:
            continue
        if values.get(name) is not None:
            out[name] = values[name]
    return out


def id_token_algs(settings: Settings) -> list[str]:
    """Every algorithm an ID token may be signed with under these settings: the default
    ``id_token_alg`` and what clients may register; RS256 first, as OIDC Discovery §3 requires it."""
    algs = ["RS256"]
    for alg in (settings.id_token_alg, *CLIENT_ID_TOKEN_ALGS):
        if alg not in algs:
            algs.append(alg)
    return algs


def id_token_alg(ctx: Services, client: Client) -> str:
    """The client's registered alg, else the server's; never RS256 for a FAPI 2.0 client (keyturn.services.fapi)."""
    return fapi.id_token_alg(ctx.settings, client)


def mint_id_token(ctx: Services, *, client: Client, user: User, scope: tuple[str, ...], now: float,
                  auth_time: float | None, nonce: str | None, access_token: str | None) -> str:
    """OIDC Core §2 / §3.1.3.6. ``aud`` is the client alone, so no ``azp`` is needed."""
    alg = id_token_alg(ctx, client)
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": ctx.settings.issuer, "aud": client.client_id, "iat": iat,
        "exp": iat + ctx.settings.access_token_ttl, "jti": secrets.token_urlsafe(12),
    }
    claims.update(user_claims(user, scope))
    if auth_time is not None:
        claims["auth_time"] = int(auth_time)
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = jose.half_hash(access_token, alg)
    return jose.sign(claims, ctx.keys.signing_key(alg), typ="JWT")
