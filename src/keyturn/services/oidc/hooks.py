"""What the OIDC provider plugs into the shared token and discovery code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import InvalidGrant
from keyturn.core.models import Grant
from keyturn.grants.base import TokenRequest
from keyturn.services.context import Context
from keyturn.services.oidc.claims import CLAIMS_SUPPORTED, mint_id_token
from keyturn.services.oidc.request import OIDC_SCOPES, allowed_scopes
from keyturn.storage import users as users_repo


async def user_refresh_hook(ctx: Context, conn: AsyncConnection, grant: Grant, scope: tuple[str, ...],
                            req: TokenRequest) -> tuple[str, str, str | None, Callable[[str], str] | None]:
    """R62/R65: a user's refresh re-checks the user and what the client may have now."""
    client = req.client
    if not client.active(req.now):
        raise InvalidGrant("refresh token is invalid, expired or revoked", detail="client disabled")
    user = await users_repo.get(conn, grant.user_id) if grant.user_id else None
    if user is None or user.disabled:
        raise InvalidGrant("refresh token is invalid, expired or revoked", detail="user gone or disabled")
    if user.password_changed_at is not None and user.password_changed_at > grant.created_at:
        raise InvalidGrant("refresh token is invalid, expired or revoked", detail="password changed")
    permitted = allowed_scopes(client)
    kept = tuple(s for s in scope if s in permitted)
    factory: Callable[[str], str] | None = None
    if "openid" in kept:
        def factory(access_token: str) -> str:
            # OIDC Core §12.2: same iss, sub, aud and auth_time as the original; no nonce.
            return mint_id_token(ctx, client=client, user=user, scope=kept, now=req.now,
                                 auth_time=grant.auth_time, nonce=None, access_token=access_token)
    return " ".join(kept), user.id, None, factory


# What a client may register as id_token_signed_response_alg (services/oidc/clients.py checks it;
# tests/oidc/test_discovery_algs.py keeps the two in step).
CLIENT_ID_TOKEN_ALGS = ("RS256", "ES256")


def id_token_algs(ctx: Context) -> list[str]:
    """Every algorithm an ID token may be signed with under these settings: the default
    ``id_token_alg`` and what clients may register; RS256 first, as OIDC Discovery §3 requires it."""
    algs = ["RS256"]
    for alg in (ctx.settings.id_token_alg, *CLIENT_ID_TOKEN_ALGS):
        if alg not in algs:
            algs.append(alg)
    return algs


def discovery_extension(ctx: Context) -> Callable[[dict[str, Any]], None]:
    def extend(meta: dict[str, Any]) -> None:
        iss = ctx.settings.issuer
        scopes = set(meta.get("scopes_supported") or ()) | set(OIDC_SCOPES)
        meta.update({
            "authorization_endpoint": f"{iss}/authorize",
            "userinfo_endpoint": f"{iss}/userinfo",
            "end_session_endpoint": f"{iss}/logout",
            "scopes_supported": sorted(scopes),
            "claims_supported": list(CLAIMS_SUPPORTED),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": id_token_algs(ctx),
            "code_challenge_methods_supported": ["S256"] + (["plain"] if ctx.settings.allow_plain_pkce else []),
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "frontchannel_logout_supported": False,
            "backchannel_logout_supported": False,
        })
    return extend
