"""Redeeming authorization codes (RFC 6749 §4.1.3): the use case behind grants/authorization_code.py.

Codes are redeemed in group commit (services/writes.py): :func:`redeem_codes` takes the exchanges
of many concurrent requests into one transaction. For each, the code is found, the grant's own
checks of the request against it run (client, redirect_uri, PKCE: ``check``), the user is re-read,
and the tokens are minted (``finish``) — a refusal there consumes nothing, so the code stays usable
by its rightful client and nothing is revoked (OAuth 2.1 §7.5.2). Then one conditional UPDATE
consumes every code that passed, and the database alone decides single use: a code it does not
return was redeemed before (by another transaction, or by an earlier exchange in this batch), and
that replay revokes the grant issued from the first redemption (OAuth 2.1 §4.1.3). An expired code
is marked used. Both are committed before the error is answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import InvalidGrant, OAuthError
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, AuthorizationCode, Client, User
from keyturn.core.secrets import digest
from keyturn.services.context import Services
from keyturn.services.tokens import NewGrant, Replayed, new_grant, settle, store_grants
from keyturn.storage import audit
from keyturn.storage import codes as codes_repo
from keyturn.storage import grants as grants_repo
from keyturn.storage import users as users_repo

BAD_CODE = "authorization code is invalid, expired or already used"


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a redeemed code gives: the new grant (and its first refresh token), its user, and the nonce."""

    issued: NewGrant
    user: User
    nonce: str | None


@dataclass(frozen=True, slots=True)
class Redeem:
    """One token request's unit of :func:`redeem_codes`. ``check`` and ``finish`` raise an ``OAuthError`` to
    refuse (nothing consumed); ``finish``'s value is the unit's outcome."""

    digest: str
    client_id: str
    now: float
    ip: str | None
    check: Callable[[AuthorizationCode], None]
    start: Callable[[AuthorizationCode, User], NewGrant]
    finish: Callable[[Redeemed], Any]
    leeway: float = 0.0  # KEYTURN_CLOCK_LEEWAY: the code's expiry is the issuing node's clock


async def redeem_codes(conn: AsyncConnection, units: Sequence[Redeem]) -> list[Any]:
    """Batch function (group commit): redeem each unit's code; see the module's docstring."""
    found = await codes_repo.find_codes(conn, (u.digest for u in units))
    users = await users_repo.get_many(conn, (c.user_id for c in found.values() if c.used_at is None))
    outcomes: list[Any] = [None] * len(units)
    consume: dict[str, str | None] = {}  # digest → the grant it is redeemed for (None: expired)
    winners: dict[int, Redeemed] = {}
    replays: list[int] = []
    for i, u in enumerate(units):
        code = found.get(u.digest)
        if code is None or code.client_id != u.client_id:
            outcomes[i] = InvalidGrant(BAD_CODE, detail="unknown code or code of another client")  # OAuth 2.1 §4.1.3
            continue
        try:
            u.check(code)
            if code.used_at is not None:
                replays.append(i)
            elif u.now >= code.expires_at + u.leeway:
                consume.setdefault(u.digest, None)
                outcomes[i] = InvalidGrant(BAD_CODE, detail="authorization code expired")
            else:
                user = users.get(code.user_id)
                if user is None or user.disabled:
                    raise InvalidGrant(BAD_CODE, detail="user gone or disabled")
                redeemed = Redeemed(u.start(code, user), user, code.nonce)
                outcomes[i] = u.finish(redeemed)
                winners[i] = redeemed
                consume.setdefault(u.digest, redeemed.issued.grant.id)
        except OAuthError as refused:  # nothing consumed: the code stays usable by its rightful client
            outcomes[i] = refused
    now = max(u.now for u in units)
    consumed = await codes_repo.consume_codes(conn, consume, now)
    issued: list[NewGrant] = []
    for i, redeemed in winners.items():
        grant = redeemed.issued.grant
        if consume[units[i].digest] == grant.id and units[i].digest in consumed:
            issued.append(redeemed.issued)
        else:  # lost to another transaction, or to an earlier exchange of the same code in this batch
            replays.append(i)
    await store_grants(conn, issued)
    stored = {n.grant.id for n in issued}
    await audit.record_many(conn, [
        audit.Event("token.issued", at=units[i].now, client_id=units[i].client_id, subject=r.user.id, ip=units[i].ip,
                    detail={"grant_type": GRANT_AUTHORIZATION_CODE, "grant_id": r.issued.grant.id})
        for i, r in winners.items() if r.issued.grant.id in stored])
    if replays:
        await _replayed(conn, units, replays, found, consume, now, outcomes)
    return outcomes


async def _replayed(conn: AsyncConnection, units: Sequence[Redeem], replays: list[int],
                    found: dict[str, AuthorizationCode], consume: dict[str, str | None], now: float,
                    outcomes: list[Any]) -> None:
    """A second redemption revokes the grant of the first (OAuth 2.1 §4.1.3): read its grant as committed
    (or as issued in this batch), revoke it, record the reuse once per grant."""
    digests = {units[i].digest for i in replays}
    grant_of = await codes_repo.grants_of(conn, digests)
    for d in digests:
        if grant_of.get(d) is None and consume.get(d) is not None:
            grant_of[d] = consume[d]  # redeemed by this batch (the statement above saw it already)
    revoked = await grants_repo.revoke_grants(conn, (g for g in grant_of.values() if g), now, "code_reuse")
    events: list[audit.Event] = []
    for i in sorted(replays):
        u = units[i]
        grant_id = grant_of.get(u.digest)
        if grant_id in revoked:
            revoked.discard(grant_id)
            events.append(audit.Event("authorization_code.reuse_detected", at=u.now, client_id=u.client_id,
                                      subject=found[u.digest].user_id, ip=u.ip, detail={"grant_id": grant_id}))
        outcomes[i] = Replayed(InvalidGrant(BAD_CODE, detail="authorization code replayed"), "authorization_code")
    await audit.record_many(conn, events)


async def redeem_code(ctx: Services, *, code: str, client: Client, now: float, ip: str | None,
                      check: Callable[[AuthorizationCode], None], finish: Callable[[Redeemed], Any],
                      dpop_jkt: str | None = None, mtls_x5t: str | None = None) -> Any:
    """Redeem ``code`` for ``client`` in the next group commit; ``finish``'s value once committed."""
    def start(issued: AuthorizationCode, user: User) -> NewGrant:
        return new_grant(ctx.settings, client=client, user_id=user.id, account_id=None,
                         grant_type=GRANT_AUTHORIZATION_CODE, scope=issued.scope, now=now,
                         session_id=issued.session_id, auth_time=issued.auth_time, dpop_jkt=dpop_jkt,
                         mtls_x5t=mtls_x5t)

    return settle(ctx, await ctx.writes.submit(redeem_codes, Redeem(
        digest=digest(code), client_id=client.client_id, now=now, ip=ip, check=check, start=start, finish=finish,
        leeway=ctx.settings.clock_leeway)))
