"""RP-Initiated Logout 1.0: checking the ``id_token_hint`` and ending a session.

Refresh-token policy at logout: the session's grants are revoked for every client that
registered ``revoke_refresh_on_logout`` (the default for clients created by
``keyturn clients create``), except grants that include ``offline_access``, which by
definition outlive the login session (OIDC Core §11).
"""

from __future__ import annotations

from typing import Any

from keyturn.core import jose
from keyturn.services.context import Services
from keyturn.services.oidc.sessions import Session
from keyturn.storage import audit
from keyturn.storage import oidc as store


def verify_id_token_hint(ctx: Services, hint: str) -> dict[str, Any] | None:
    """Our signature, our issuer, an ID token (not an access token, R70); expiry is not required
    (RPs often log out after the ID token expired)."""
    expect = jose.Expect(issuer=ctx.settings.issuer, typ="jwt", require=("iss", "sub", "aud", "iat"),
                         leeway=ctx.settings.clock_leeway, check_exp=False)
    try:
        claims = jose.verify(hint, ctx.keys.verification_keys, expect, ctx.clock())
    except jose.TokenInvalid:
        return None
    if not isinstance(claims.get("aud"), str) or "client_id" in claims or "scope" in claims:
        return None
    return claims


async def end(ctx: Services, session: Session, now: float, ip: str | None) -> int:
    """End the session and revoke the grants its clients asked to have revoked at logout."""
    async with ctx.engine.connect() as conn:
        client_ids = await store.client_ids_of_session(conn, session.digest)
    opted_in: list[str] = []
    for client_id in client_ids:
        client = await ctx.client(client_id, now)
        if client is not None and client.revoke_refresh_on_logout:
            opted_in.append(client_id)
    async with ctx.engine.begin() as conn:
        await store.end_session(conn, session.digest, now)
        revoked = await store.revoke_online_grants_of_session(conn, session.digest, opted_in, now, "logout")
        await audit.record(conn, "session.ended", at=now, subject=session.user.id, ip=ip, grants_revoked=revoked)
    ctx.revocations_changed()
    return revoked
