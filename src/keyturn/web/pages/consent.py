"""``POST /interaction/{id}/consent``: the user allows or refuses a client that is not first-party.

An allowed scope is remembered, so the next authorization is silent; refusing answers
``access_denied`` at the client (R20). The rules: keyturn.services.oidc.interactions.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services.oidc import interactions, sessions
from keyturn.web.pages.interaction import EXPIRED, load_submission
from keyturn.web.pages.render import error_page, see_other
from keyturn.web.state import services


async def consent_submit(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    loaded = await load_submission(ctx, request, "consent", now)
    if isinstance(loaded, Response):
        return loaded
    pending, form = loaded
    session = await sessions.current(ctx, request.cookies.get(sessions.session_cookie(ctx)), now)
    if session is None or not pending.belongs_to(session):
        return error_page(EXPIRED)
    try:
        location = await interactions.decide_consent(ctx, pending, session, form.get("decision") == "allow", now)
    except interactions.Expired:
        return error_page(EXPIRED)
    return see_other(location)
