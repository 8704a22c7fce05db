"""The UserInfo use case (OIDC Core §5.3): the claims a live access token with ``openid`` may read.

Two steps, so the endpoint can decide its CORS answer once the token's client is known (R95):
:func:`check_token` (the token), then :func:`claims` (the user, who may have been disabled since).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyturn.core.errors import InsufficientScope, InvalidToken
from keyturn.core.models import Client
from keyturn.services.context import Services
from keyturn.services.dpop import Presented
from keyturn.services.introspection import verify_access_token
from keyturn.services.oidc.claims import user_claims
from keyturn.storage import users as users_repo

INVALID = "the access token is invalid, expired or revoked"


@dataclass(frozen=True, slots=True)
class UserToken:
    """A live user access token: whose, with which scope, issued to which client (None: gone)."""

    subject: str
    scope: tuple[str, ...]
    client: Client | None


async def check_token(ctx: Services, token: str, now: float, presented: Presented | None = None) -> UserToken:
    """RFC 6750 §3.1: ``invalid_token`` unless a live user token; ``insufficient_scope`` without ``openid``.
    ``presented``: how it came (RFC 9449 §7: a DPoP-bound token only with the DPoP scheme and a proof)."""
    found = await verify_access_token(ctx, token, now)
    if found is None or found.get("kind") != "user":
        raise InvalidToken(INVALID)
    if presented is not None:
        await presented.check(ctx, found, now)
    scope = tuple(str(found.get("scope", "")).split())
    if "openid" not in scope:
        raise InsufficientScope("openid", "the access token lacks the openid scope")
    client = await ctx.client(str(found.get("client_id")), now)
    return UserToken(str(found["sub"]), scope, client)


async def claims(ctx: Services, token: UserToken) -> dict[str, Any]:
    """``sub`` and the claims the token's scope releases; ``invalid_token`` if the user is gone or disabled."""
    async with ctx.engine.connect() as conn:
        user = await users_repo.get(conn, token.subject)
    if user is None or user.disabled:
        raise InvalidToken(INVALID)
    return user_claims(user, token.scope)
