"""RFC 6749 §4.1.3: authorization code exchange with PKCE (RFC 7636), OIDC Core §3.1.3.

The code is consumed first, by one conditional UPDATE inside the exchange's transaction, so
the database alone decides single use. Every refusal of the request itself (another client's
code, a missing or different redirect_uri, a missing or wrong verifier) raises inside that
transaction, which rolls the consumption back: the code stays usable by its rightful client
and nothing is revoked (OAuth 2.1 §7.5.2). A second redemption by the rightful client is
refused and revokes the grant issued from the first (OAuth 2.1 §4.1.3); that revocation, like
the marking of an expired code as used, is committed before the error is returned.

redirect_uri (RFC 6749 §4.1.3): when the authorization request carried one, the token request
must carry the identical string (missing: ``invalid_request``, RFC 6749 §5.2 "missing a required
parameter"; different: ``invalid_grant``). When it carried none (allowed only with exactly one
registered URI), the token request may omit it, and one that is sent must equal the URI the code
was issued for.
"""

from __future__ import annotations

import uuid
from typing import Any

from keyturn.core import pkce
from keyturn.core.durations import parse_duration
from keyturn.core.errors import InvalidGrant, InvalidRequest
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, Grant
from keyturn.core.secrets import digest, new_refresh_token
from keyturn.grants.base import AUTH_PARAMS, require_grant_type
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.oidc.claims import mint_id_token
from keyturn.services.tokens import mint_access_token
from keyturn.storage import audit
from keyturn.storage import grants as grants_repo
from keyturn.storage import oidc as store
from keyturn.storage import users as users_repo

GRANT_TYPE = GRANT_AUTHORIZATION_CODE
PARAMS = AUTH_PARAMS | {"code", "redirect_uri", "code_verifier"}
BAD_CODE = "authorization code is invalid, expired or already used"


def refresh_lifetime(ctx: Services, client: Any) -> int | None:
    """Seconds of the refresh-token family, or None when this client gets no refresh token."""
    if not client.refresh_enabled:
        return None
    if client.kind == "credential":
        return parse_duration(client.refresh) if client.refresh else None
    return ctx.settings.user_refresh_ttl


def check_redirect_uri(sent: str | None, row: dict[str, Any], registered: tuple[str, ...]) -> None:
    """RFC 6749 §4.1.3 and §10.6: the token request's redirect_uri against the code's authorization request."""
    required = row["redirect_uri_sent"]
    if required is None:
        # A code stored before migration 0002 (or by an older node mid-deploy): the rule it was issued under.
        required = len(registered) != 1
    if sent is None:
        if required:
            raise InvalidRequest("redirect_uri is required: the authorization request had one")
        return
    if sent != row["redirect_uri"]:
        raise InvalidGrant("redirect_uri does not match the authorization request")


async def handle(ctx: Services, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    require_grant_type(client, GRANT_TYPE)
    code = req.params.get("code")
    if not code:
        raise InvalidRequest("code is required")
    verifier = req.params.get("code_verifier")
    if verifier is not None and not pkce.valid_verifier(verifier):
        raise InvalidRequest("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")  # RFC 7636 §4.1
    code_digest = digest(code)
    grant_id = str(uuid.uuid4())
    async with ctx.engine.begin() as conn:
        # Consume first (one statement decides single use); every refusal below raises inside the
        # transaction, so a code sent by the wrong client or with a wrong verifier stays unused.
        row = await store.consume_code(conn, code_digest, req.now, grant_id)
        replay = row is None
        if row is None:
            row = await store.find_code(conn, code_digest)
        if row is None or row["client_id"] != client.client_id:
            raise InvalidGrant(BAD_CODE, detail="unknown code or code of another client")  # OAuth 2.1 §4.1.3
        check_redirect_uri(req.params.get("redirect_uri"), row, client.redirect_uris)
        if row["code_challenge"]:
            # RFC 7636 §4.6: the verifier is required and must match.
            if verifier is None:
                raise InvalidGrant("code_verifier is required")
            if not pkce.verifier_matches(verifier, row["code_challenge"], row["code_challenge_method"]):
                raise InvalidGrant("code_verifier does not match the code_challenge")
        elif verifier is not None:
            raise InvalidRequest("code_verifier sent but no code_challenge was")  # RFC 9700 §4.8.2
        if replay:
            if row["grant_id"] and await grants_repo.revoke_grant(conn, row["grant_id"], req.now, "code_reuse"):
                await audit.record(conn, "authorization_code.reuse_detected", at=req.now,
                                   client_id=client.client_id, subject=row["user_id"], ip=req.ip,
                                   grant_id=row["grant_id"])
            error = InvalidGrant(BAD_CODE, detail="authorization code replayed")
        elif req.now >= row["expires_at"]:
            error = InvalidGrant(BAD_CODE, detail="authorization code expired")
        else:
            error = None
            user = await users_repo.get(conn, row["user_id"])
            if user is None or user.disabled:
                raise InvalidGrant(BAD_CODE, detail="user gone or disabled")
            scope = str(row["scope"])
            lifetime = refresh_lifetime(ctx, client)
            grant = Grant(id=grant_id, client_id=client.client_id, user_id=user.id, account_id=None,
                          grant_type=GRANT_TYPE, scope=scope, session_id=row["session_id"],
                          auth_time=row["auth_time"], created_at=req.now,
                          expires_at=req.now + (lifetime or ctx.settings.access_token_ttl), revoked_at=None)
            await grants_repo.create_grant(conn, grant)
            refresh: str | None = None
            if lifetime:
                refresh = new_refresh_token()
                await grants_repo.insert_refresh_token(
                    conn, digest=digest(refresh), grant_id=grant.id, generation=1, scope=scope,
                    issued_at=req.now, expires_at=min(grant.expires_at, req.now + ctx.settings.refresh_idle_ttl))
            await audit.record(conn, "token.issued", at=req.now, client_id=client.client_id, subject=user.id,
                               ip=req.ip, grant_type=GRANT_TYPE, grant_id=grant.id)
    if error is not None:
        ctx.revocations_changed()
        raise error
    assert user is not None
    access, expires_in = mint_access_token(ctx, sub=user.id, client_id=client.client_id, scope=scope, kind="user",
                                           now=req.now, grant_id=grant.id)
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in,
                            "scope": scope}
    if "openid" in scope.split():
        body["id_token"] = mint_id_token(ctx, client=client, user=user, scope=tuple(scope.split()), now=req.now,
                                         auth_time=row["auth_time"], nonce=row["nonce"], access_token=access)
    if refresh:
        body["refresh_token"] = refresh
    return body
