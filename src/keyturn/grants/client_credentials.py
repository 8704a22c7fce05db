"""RFC 6749 §4.4: client credentials. Confidential clients only (OAuth 2.1 §4.2)."""

from __future__ import annotations

from typing import Any

from keyturn.core.errors import InvalidClient
from keyturn.core.models import GRANT_CLIENT_CREDENTIALS
from keyturn.core.scopes import format_scope, narrow, parse_scope
from keyturn.grants.base import AUTH_PARAMS, require_grant_type
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.tokens import mint_access_token, refresh_lifetime, start_grant

GRANT_TYPE = GRANT_CLIENT_CREDENTIALS
PARAMS = AUTH_PARAMS | {"scope"}


async def handle(ctx: Services, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    if req.auth.method == "none":
        raise InvalidClient("client_credentials requires client authentication")
    require_grant_type(client, GRANT_TYPE)
    # RFC 6749 §3.3: the requested scope must be within the client's; no scope means all of it.
    scope = format_scope(narrow(parse_scope(req.params.get("scope")), client.scopes))
    grant_id: str | None = None
    refresh: str | None = None
    if refresh_lifetime(ctx.settings, client):  # the credential's refresh duration; none: no refresh (RFC 6749 §4.4.3)
        async with ctx.engine.begin() as conn:
            grant, refresh = await start_grant(ctx, conn, client=client, user_id=None, account_id=client.account_id,
                                               grant_type=GRANT_TYPE, scope=scope, now=req.now)
        grant_id = grant.id
    token, expires_in = mint_access_token(
        ctx, sub=client.client_id, client_id=client.client_id, scope=scope, kind="credential", now=req.now,
        account_id=client.account_id, role=client.role, grant_id=grant_id)
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in,
                            "scope": scope}
    if refresh:
        body["refresh_token"] = refresh
    return body
