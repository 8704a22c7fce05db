"""RFC 6749 §6: refresh, with rotation and reuse detection (RFC 9700 §4.14.2)."""

from __future__ import annotations

from typing import Any

from keyturn.core.errors import InvalidGrant, InvalidRequest, InvalidScope
from keyturn.core.models import GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN
from keyturn.core.scopes import format_scope, parse_scope
from keyturn.grants.base import AUTH_PARAMS, require_grant_type
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.oidc.refresh import user_refresh
from keyturn.services.tokens import mint_access_token, rotate_refresh_token

GRANT_TYPE = GRANT_REFRESH_TOKEN
PARAMS = AUTH_PARAMS | {"refresh_token", "scope"}

async def handle(ctx: Services, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    token = req.params.get("refresh_token")
    if not token:
        raise InvalidRequest("refresh_token is required")
    require_grant_type(client, GRANT_TYPE)
    requested = parse_scope(req.params.get("scope"))
    async with ctx.engine.begin() as conn:
        result = await rotate_refresh_token(conn, token=token, client_id=client.client_id, now=req.now,
                                            idle=ctx.settings.refresh_idle_ttl, ip=req.ip)
        if isinstance(result, InvalidGrant):
            pass  # commit the family revocation, then raise below
        else:
            granted = tuple(result.scope.split())
            if requested and any(s not in granted for s in requested):
                # OAuth 2.1 §4.3.1: never more than the original grant.
                raise InvalidScope("requested scope exceeds the original grant")
            grant = result.grant
            if grant.grant_type == GRANT_CLIENT_CREDENTIALS:
                # R65: re-evaluate what the client may have now.
                current = client.scopes
                scope = format_scope(tuple(s for s in (requested or granted) if s in current))
                id_token_factory = None
                sub, kind, account_id, role = client.client_id, "credential", client.account_id, client.role
            else:
                # A user's grant: the OIDC provider re-checks the user and what the client may have (R62, R65).
                scope, sub, account_id, id_token_factory = await user_refresh(ctx, conn, grant,
                                                                              requested or granted, req)
                kind, role = "user", None
            # Signed before the commit: if signing fails, the old refresh token stays unused (F04, I2).
            access, expires_in = mint_access_token(
                ctx, sub=sub, client_id=client.client_id, scope=scope, kind=kind, now=req.now,
                account_id=account_id, role=role, grant_id=grant.id)
    if isinstance(result, InvalidGrant):
        ctx.revocations_changed()
        raise result
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in,
                            "scope": scope, "refresh_token": result.refresh_token}
    if id_token_factory is not None:
        body["id_token"] = id_token_factory(access)
    return body
