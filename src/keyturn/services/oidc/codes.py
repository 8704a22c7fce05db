"""Redeeming an authorization code (RFC 6749 §4.1.3): the use case behind grants/authorization_code.py.

The code is consumed first, by one conditional UPDATE inside the exchange's transaction, so the
database alone decides single use. The grant's own checks of the request against the code (client,
redirect_uri, PKCE) run next, inside that transaction: a refusal raises and rolls the consumption
back, so the code stays usable by its rightful client and nothing is revoked (OAuth 2.1 §7.5.2). A
second redemption by the rightful client revokes the grant issued from the first (OAuth 2.1 §4.1.3);
that revocation, like the marking of an expired code as used, is committed before the error is raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from keyturn.core.errors import InvalidGrant
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, AuthorizationCode, Client, Grant, User
from keyturn.core.secrets import digest
from keyturn.services.context import Services
from keyturn.services.tokens import start_grant
from keyturn.storage import audit
from keyturn.storage import grants as grants_repo
from keyturn.storage import oidc as store
from keyturn.storage import users as users_repo

BAD_CODE = "authorization code is invalid, expired or already used"


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a redeemed code gives: the new grant, its user, and the refresh token if the client gets one."""

    grant: Grant
    user: User
    nonce: str | None
    refresh_token: str | None


async def redeem_code(ctx: Services, *, code: str, client: Client, now: float, ip: str | None,
                      check: Callable[[AuthorizationCode], None]) -> Redeemed:
    """Consume ``code`` and start its grant. ``check`` raises to refuse the request (rolling back)."""
    code_digest = digest(code)
    grant_id = str(uuid.uuid4())
    result: Redeemed | InvalidGrant
    async with ctx.engine.begin() as conn:
        row = await store.consume_code(conn, code_digest, now, grant_id)  # the one statement that decides
        replay = row is None
        if row is None:
            row = await store.find_code(conn, code_digest)
        if row is None or row.client_id != client.client_id:
            raise InvalidGrant(BAD_CODE, detail="unknown code or code of another client")  # OAuth 2.1 §4.1.3
        check(row)
        if replay:
            if row.grant_id and await grants_repo.revoke_grant(conn, row.grant_id, now, "code_reuse"):
                await audit.record(conn, "authorization_code.reuse_detected", at=now, client_id=client.client_id,
                                   subject=row.user_id, ip=ip, grant_id=row.grant_id)
            result = InvalidGrant(BAD_CODE, detail="authorization code replayed")
        elif now >= row.expires_at:
            result = InvalidGrant(BAD_CODE, detail="authorization code expired")
        else:
            user = await users_repo.get(conn, row.user_id)
            if user is None or user.disabled:
                raise InvalidGrant(BAD_CODE, detail="user gone or disabled")
            grant, refresh = await start_grant(
                ctx, conn, client=client, user_id=user.id, account_id=None, grant_type=GRANT_AUTHORIZATION_CODE,
                scope=row.scope, now=now, grant_id=grant_id, session_id=row.session_id,
                auth_time=row.auth_time)
            await audit.record(conn, "token.issued", at=now, client_id=client.client_id, subject=user.id, ip=ip,
                               grant_type=GRANT_AUTHORIZATION_CODE, grant_id=grant.id)
            result = Redeemed(grant=grant, user=user, nonce=row.nonce, refresh_token=refresh)
    if isinstance(result, InvalidGrant):  # committed: the replay's revocation, the expired code's use
        ctx.revocations_changed()
        raise result
    return result
