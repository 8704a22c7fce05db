"""``POST /interaction/{id}/consent``: the user allows or refuses a client that is not first-party.

An allowed scope is remembered (consents table), so the next authorization is silent.
Refusing answers ``access_denied`` at the client (R20).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import AccessDenied
from keyturn.core.secrets import digest
from keyturn.services.oidc import flow, sessions
from keyturn.storage import audit
from keyturn.storage import oidc as store
from keyturn.web.interaction import EXPIRED, load_submission
from keyturn.web.pages import error_page, see_other
from keyturn.web.state import services


async def consent_submit(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    loaded = await load_submission(ctx, request, "consent", now)
    if isinstance(loaded, Response):
        return loaded
    pending, form = loaded
    session = await sessions.current(ctx, request.cookies.get(sessions.session_cookie(ctx)), now)
    if session is None or session.digest != pending.params["session"]:
        return error_page(EXPIRED)
    areq = pending.areq
    async with ctx.engine.begin() as conn:
        if not await store.consume_interaction(conn, digest(pending.interaction_id), now):
            return error_page(EXPIRED)
        allowed = form.get("decision") == "allow"
        if allowed:
            await store.remember_consent(conn, session.user.id, pending.client.client_id, areq.scope, now)
        await audit.record(conn, "consent.granted" if allowed else "consent.refused", at=now,
                           subject=session.user.id, client_id=pending.client.client_id, scope=" ".join(areq.scope))
    if not allowed:
        exc = AccessDenied("the user refused access")
        return see_other(flow.error_redirect(ctx, areq.redirect_uri, exc, areq.state))
    return see_other(await flow.issue_code(ctx, pending.client, areq, session, now))
