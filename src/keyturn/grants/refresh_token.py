"""RFC 6749 §6: refresh, with rotation and reuse detection (RFC 9700 §4.14.2).

The rotation runs in group commit (services/tokens.rotate_refresh_tokens): this module decides, for
a token found unused and live, what the request gets (``finish``), and mints it; a refusal there
leaves the token unused. A FAPI 2.0 client's refresh token is not rotated (§5.3.2.1, keyturn.services.fapi;
docs/fapi2.md): the answer has a new access token and no refresh token, the client keeps its own
(services/tokens.refresh_in_place), unless ``KEYTURN_FAPI2_REFRESH_ROTATION``.
"""

from __future__ import annotations

import json
from typing import Any

from keyturn.core import reissue
from keyturn.core.errors import InvalidDPoPProof, InvalidGrant, InvalidRequest, InvalidScope
from keyturn.core.jose import same_thumbprint
from keyturn.core.models import GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, Grant, RefreshToken, User
from keyturn.core.scopes import format_scope, parse_scope
from keyturn.core.secrets import digest, new_refresh_token
from keyturn.grants.base import AUTH_PARAMS, require_grant_type
from keyturn.services import fapi
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.oidc.refresh import user_refresh
from keyturn.services.tokens import (
    Keep,
    Repeat,
    Rotate,
    access_token_lifetime,
    mint_access_token,
    refresh_in_place,
    rotate_refresh_tokens,
    settle,
)

GRANT_TYPE = GRANT_REFRESH_TOKEN
PARAMS = AUTH_PARAMS | {"refresh_token", "scope"}


async def handle(ctx: Services, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    token = req.params.get("refresh_token")
    if not token:
        raise InvalidRequest("refresh_token is required")
    require_grant_type(client, GRANT_TYPE)
    requested = parse_scope(req.params.get("scope"))

    def finish(old: RefreshToken, grant: Grant, user: User | None) -> dict[str, Any]:
        if grant.dpop_jkt is not None:  # RFC 9449 §5: a public client's refresh token needs a proof of its key
            if req.dpop_jkt is None:
                raise InvalidDPoPProof("this refresh token is DPoP-bound: send a DPoP proof of its key")
            if not same_thumbprint(req.dpop_jkt, grant.dpop_jkt):
                raise InvalidDPoPProof("the DPoP proof's key is not the one this refresh token is bound to")
        if grant.mtls_x5t is not None and not same_thumbprint(req.x5t, grant.mtls_x5t):
            # RFC 8705 §4: a public client's refresh token works only with the certificate it was issued to
            raise InvalidGrant("this refresh token is bound to another client certificate")
        granted = tuple(old.scope.split())
        if requested and any(s not in granted for s in requested):
            raise InvalidScope("requested scope exceeds the original grant")  # OAuth 2.1 §4.3.1
        id_token = None
        if grant.grant_type == GRANT_CLIENT_CREDENTIALS:  # R65: re-evaluate what the client may have now
            scope = format_scope(tuple(s for s in (requested or granted) if s in client.scopes))
            sub, kind, account_id, role = client.client_id, "credential", client.account_id, client.role
        else:  # a user's grant: the OIDC provider re-checks the user and what the client may have (R62, R65)
            checked = user_refresh(ctx, client, grant, user, requested or granted, req.now)
            scope, sub, kind, account_id, role, id_token = checked.scope, checked.sub, "user", None, None, \
                checked.id_token
        # Signed before the commit: if signing fails, the old refresh token stays unused (F04, I2).
        access, expires_in = mint_access_token(ctx, sub=sub, client_id=client.client_id, scope=scope, kind=kind,
                                               now=req.now, account_id=account_id, role=role, grant_id=grant.id,
                                               lifetime=access_token_lifetime(ctx.settings, client, req.now),
                                               jkt=req.dpop_jkt, x5t=req.x5t)
        body: dict[str, Any] = {"access_token": access, "token_type": req.token_type, "expires_in": expires_in,
                                "scope": scope}
        if successor is not None:  # RFC 6749 §6: without rotation none is sent, the client keeps its own
            body["refresh_token"] = successor
        if id_token is not None:
            body["id_token"] = id_token(access)
        return body

    token_digest = digest(token)
    if not fapi.rotates_refresh(ctx.settings, client):
        successor: str | None = None
        kept: dict[str, Any] = settle(ctx, await ctx.writes.submit(refresh_in_place, Keep(
            digest=token_digest, client_id=client.client_id, now=req.now, idle=ctx.settings.refresh_idle_ttl,
            finish=finish)))
        return kept
    successor = new_refresh_token()
    grace = fapi.refresh_grace(ctx.settings, client)
    body: dict[str, Any] = settle(ctx, await ctx.writes.submit(rotate_refresh_tokens, Rotate(
        digest=token_digest, client_id=client.client_id, now=req.now, idle=ctx.settings.refresh_idle_ttl,
        ip=req.ip, successor=digest(successor), finish=finish,
        repeat=_repeat(token, token_digest, grace, req.now, req.dpop_jkt, req.x5t) if grace else None)))
    return body


def _repeat(token: str, token_digest: str, window: int, now: float, jkt: str | None,
            x5t: str | None = None) -> Repeat:
    """The grace window of this request (docs/client-authentication.md): the answer is sealed with the
    presented token, with its time; a repeat gets it again, ``expires_in`` counted down to the repeat's time.
    An answer given to a DPoP proof (RFC 9449) is given again only to a proof of the same key: any other
    repeat is a reuse. The same for a client certificate (RFC 8705)."""

    def seal(body: dict[str, Any]) -> bytes:
        return reissue.seal(token, token_digest, json.dumps({"at": now, "jkt": jkt, "x5t": x5t, "body": body}).encode())

    def unseal(box: bytes) -> tuple[str, dict[str, Any]] | None:
        payload = reissue.unseal(token, token_digest, box)
        if payload is None:
            return None
        kept = json.loads(payload)
        bound = kept.get("jkt")
        if bound is not None and not same_thumbprint(jkt, bound):
            return None
        cert = kept.get("x5t")
        if cert is not None and not same_thumbprint(x5t, cert):
            return None
        body: dict[str, Any] = kept["body"]
        body["expires_in"] = max(1, body["expires_in"] - int(now - kept["at"]))
        return digest(body["refresh_token"]), body

    return Repeat(window=window, seal=seal, unseal=unseal)
