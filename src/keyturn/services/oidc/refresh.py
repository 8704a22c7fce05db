"""A user's refresh (grants/refresh_token.py): the OIDC provider re-checks the user and the client."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import InvalidGrant
from keyturn.core.models import Grant
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.oidc.claims import mint_id_token
from keyturn.services.oidc.request import allowed_scopes
from keyturn.storage import users as users_repo


async def user_refresh(ctx: Services, conn: AsyncConnection, grant: Grant, scope: tuple[str, ...],
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
