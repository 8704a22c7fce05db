"""A user's refresh (grants/refresh_token.py): the OIDC provider re-checks the user and the client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from keyturn.core.errors import InvalidGrant
from keyturn.core.models import Client, Grant, User
from keyturn.services.context import Services
from keyturn.services.oidc.claims import mint_id_token
from keyturn.services.oidc.request import allowed_scopes
from keyturn.services.tokens import BAD_REFRESH


@dataclass(frozen=True, slots=True)
class UserRefresh:
    scope: str  # what the new access token carries
    sub: str
    id_token: Callable[[str], str] | None  # given the access token, the ID token (openid scope only)


def user_refresh(ctx: Services, client: Client, grant: Grant, user: User | None, scope: tuple[str, ...],
                 now: float) -> UserRefresh:
    """R62/R65: a user's refresh re-checks the user (``user`` is the grant's, as stored now) and what the
    client may have now. Raises ``InvalidGrant`` to refuse (the refresh token is then not consumed)."""
    if not client.active(now):
        raise InvalidGrant(BAD_REFRESH, detail="client disabled")
    if user is None or user.disabled:
        raise InvalidGrant(BAD_REFRESH, detail="user gone or disabled")
    if user.password_changed_at is not None and user.password_changed_at > grant.created_at:
        raise InvalidGrant(BAD_REFRESH, detail="password changed")
    permitted = allowed_scopes(client)
    kept = tuple(s for s in scope if s in permitted)
    factory: Callable[[str], str] | None = None
    if "openid" in kept:
        def factory(access_token: str) -> str:
            # OIDC Core §12.2: same iss, sub, aud and auth_time as the original; no nonce.
            return mint_id_token(ctx, client=client, user=user, scope=kept, now=now,
                                 auth_time=grant.auth_time, nonce=None, access_token=access_token)
    return UserRefresh(" ".join(kept), user.id, factory)
