"""``POST /interaction/{id}/login``: the hosted login form (email or phone number + password).

CSRF: the form token must match the interaction, and the interaction must belong to this
browser (a SameSite=Lax cookie, so a cross-site POST cannot carry it). A successful login
starts a new session (new id) and answers 303 (RFC 9700 §4.12).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services.oidc import interactions, login, sessions
from keyturn.web.pages.interaction import EXPIRED, load_submission, render_login
from keyturn.web.pages.render import browser_cookie, error_page, see_other, set_cookie
from keyturn.web.server.address import client_ip
from keyturn.web.state import services


async def login_submit(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    loaded = await load_submission(ctx, request, "login", now)
    if isinstance(loaded, Response):
        return loaded
    pending, form = loaded
    if form.get("cancel") is not None:
        return see_other(await interactions.cancel(ctx, pending, now))
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    try:
        user = await login.authenticate(ctx, username, password, client_ip(request), now)
    except login.LoginFailed as failed:
        status = 429 if failed.retry_after else 401
        headers = {"Retry-After": str(failed.retry_after)} if failed.retry_after else None
        return render_login(pending, username=username[:320], error=failed.message, status=status, headers=headers)
    cookie_name = sessions.session_cookie(ctx)
    try:
        value, location = await interactions.signed_in(ctx, pending, user, now,
                                                       previous=request.cookies.get(cookie_name),
                                                       browser=request.cookies.get(browser_cookie(ctx), ""))
    except interactions.Expired:
        return error_page(EXPIRED)
    response = see_other(location)
    set_cookie(response, cookie_name, value, secure=ctx.settings.secure_cookies,
               max_age=int(ctx.settings.session_max_ttl))
    return response
