"""``POST /interaction/{id}/login``: the hosted login form (email or phone number + password).

CSRF: the form token must match the interaction, and the interaction must belong to this
browser (a SameSite=Lax cookie, so a cross-site POST cannot carry it). A successful login
starts a new session (new id) and answers 303 (RFC 9700 §4.12).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import AccessDenied, OAuthError
from keyturn.core.secrets import digest
from keyturn.services.oidc import flow, login, sessions
from keyturn.storage import oidc as store
from keyturn.web.authorize import browser_cookie
from keyturn.web.interaction import EXPIRED, load_submission, render_login
from keyturn.web.pages import error_page, see_other, set_cookie
from keyturn.web.params import client_ip
from keyturn.web.state import services


async def login_submit(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    loaded = await load_submission(ctx, request, "login", now)
    if isinstance(loaded, Response):
        return loaded
    pending, form = loaded
    if form.get("cancel") is not None:
        async with ctx.engine.begin() as conn:
            await store.consume_interaction(conn, digest(pending.interaction_id), now)
        exc = AccessDenied("the user cancelled the sign-in")
        return see_other(flow.error_redirect(ctx, pending.areq.redirect_uri, exc, pending.areq.state))
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    ip = client_ip(request)
    try:
        user = await login.authenticate(ctx, username, password, ip, now)
    except login.LoginFailed as failed:
        status = 429 if failed.retry_after else 401
        headers = {"Retry-After": str(failed.retry_after)} if failed.retry_after else None
        return render_login(pending, username=username[:320], error=failed.message, status=status, headers=headers)
    async with ctx.engine.begin() as conn:
        if not await store.consume_interaction(conn, digest(pending.interaction_id), now):
            return error_page(EXPIRED)
    cookie_name = sessions.session_cookie(ctx)
    value, session = await sessions.start(ctx, user, now, request.cookies.get(cookie_name))
    try:
        location = await flow.proceed(ctx, pending.client, pending.areq, session, now,
                                      browser=request.cookies.get(browser_cookie(ctx), ""), fresh_login=True)
    except OAuthError as exc:
        location = flow.error_redirect(ctx, pending.areq.redirect_uri, exc, pending.areq.state)
    response = see_other(location)
    set_cookie(response, cookie_name, value, secure=ctx.settings.secure_cookies,
               max_age=int(ctx.settings.session_max_ttl))
    return response
