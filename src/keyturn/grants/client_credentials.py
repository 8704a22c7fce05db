"""RFC 6749 §4.4: client credentials. Confidential clients only (OAuth 2.1 §4.2)."""

from __future__ import annotations

from typing import Any

from keyturn.core.errors import InvalidClient
from keyturn.core.models import GRANT_CLIENT_CREDENTIALS
from keyturn.core.scopes import format_scope, narrow, parse_scope
from keyturn.grants.base import AUTH_PARAMS, require_grant_type
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.tokens import (
    access_token_lifetime,
    mint_access_token,
    new_grant,
    refresh_lifetime,
    store_grants,
)

GRANT_TYPE = GRANT_CLIENT_CREDENTIALS
PARAMS = AUTH_PARAMS | {"scope"}


async def handle(ctx: Services, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    if req.auth.method == "none":
        raise InvalidClient("client_credentials requires client authentication")
    require_grant_type(client, GRANT_TYPE)
    # RFC 6749 §3.3: the requested scope must be within the client's; no scope means all of it.
    scope = format_scope(narrow(parse_scope(req.params.get("scope")), client.scopes))
    new = None  # a grant and its refresh token when the credential has a refresh duration (seed 000's "1d")
    if refresh_lifetime(ctx.settings, client):  # none: no refresh token (RFC 6749 §4.4.3)
        new = new_grant(ctx.settings, client=client, user_id=None, account_id=client.account_id,
                        grant_type=GRANT_TYPE, scope=scope, now=req.now)
    token, expires_in = mint_access_token(
        ctx, sub=client.client_id, client_id=client.client_id, scope=scope, kind="credential", now=req.now,
        account_id=client.account_id, role=client.role, grant_id=new.grant.id if new else None,
        lifetime=access_token_lifetime(ctx.settings, client, req.now), jkt=req.dpop_jkt,
        x5t=req.x5t)
    if new is not None:  # answered once committed (group commit, services/writes.py)
        await ctx.writes.submit(store_grants, new)
    body: dict[str, Any] = {"access_token": token, "token_type": req.token_type, "expires_in": expires_in,
                            "scope": scope}
    if new is not None and new.refresh_token:
        body["refresh_token"] = new.refresh_token
    return body
