"""``GET/POST /logout``: the end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).

- ``id_token_hint`` must be ours (R82); a bad one is shown an error page, never redirected.
- ``post_logout_redirect_uri`` must exactly match one the client registered (R81), else no redirect.
- Without a valid hint for the signed-in user, the user confirms on a page whose form carries an
  XSRF token (double-submit cookie, SameSite=Lax) (R83).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import OAuthError
from keyturn.core.models import Client
from keyturn.services.context import Services
from keyturn.services.oidc import logout, sessions
from keyturn.services.oidc.flow import with_query
from keyturn.web.pages.render import clear_cookie, error_page, page, read_form_pairs, see_other, set_cookie
from keyturn.web.params import collect, decode
from keyturn.web.server.address import client_ip
from keyturn.web.state import services

XSRF_COOKIE = "keyturn_logout_xsrf"
INVALID = "The sign-out request is invalid."
MAX_FIELDS = 20  # of the query
MAX_VALUE = 8192  # characters of one parameter


async def _params(request: Request) -> dict[str, str] | None:
    """The query's and (POST) the form's parameters together, each sent once (RFC 6749 §3.1); None: unusable."""
    try:
        pairs = decode(request.scope["query_string"], MAX_FIELDS)
    except OAuthError:
        return None
    if request.method == "POST":
        form = await read_form_pairs(request)
        if form is None:
            return None
        pairs += form
    params = collect(pairs)
    return None if params.repeated or any(len(v) > MAX_VALUE for v in params.values.values()) else params.values


async def _finish(ctx: Services, request: Request, client: Client | None, params: dict[str, str],
                  session: sessions.Session | None, now: float) -> Response:
    if session is not None:
        await logout.end(ctx, session, now, client_ip(request))
    target = params.get("post_logout_redirect_uri")
    if client is not None and target is not None:
        response: Response = see_other(with_query(target, {"state": params.get("state")}))
    else:
        response = page("logged_out.html", title="Signed out")
    secure = ctx.settings.secure_cookies
    clear_cookie(response, sessions.session_cookie(ctx), secure=secure)
    clear_cookie(response, sessions.cookie_name(ctx, XSRF_COOKIE), secure=secure)
    return response


async def end_session_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    params = await _params(request)
    if params is None:
        return error_page(INVALID)
    await ctx.keys.maybe_reload(now)
    claims = None
    if "id_token_hint" in params:
        claims = logout.verify_id_token_hint(ctx, params["id_token_hint"])
        if claims is None:
            return error_page(INVALID)
    client_id = params.get("client_id") or (claims["aud"] if claims else None)
    if claims is not None and client_id != claims["aud"]:
        return error_page(INVALID)
    client = await ctx.client(client_id, now) if client_id else None
    if client_id and client is None:
        return error_page(INVALID)
    target = params.get("post_logout_redirect_uri")
    if target is not None and (client is None or target not in client.post_logout_redirect_uris):
        return error_page("The post_logout_redirect_uri is not registered for this application.")
    session = await sessions.current(ctx, request.cookies.get(sessions.session_cookie(ctx)), now)
    xsrf_name = sessions.cookie_name(ctx, XSRF_COOKIE)
    if request.method == "POST" and "xsrf" in params:
        cookie = request.cookies.get(xsrf_name, "")
        if not cookie or not hmac.compare_digest(cookie, params["xsrf"]):
            return error_page("The sign-out form has expired. Try again.", status=403)
        if params.get("logout") != "yes":
            return page("logged_out.html", title="Still signed in", still_signed_in=True)
        return await _finish(ctx, request, client, params, session, now)
    if claims is not None and (session is None or session.user.id == claims["sub"]):
        return await _finish(ctx, request, client, params, session, now)
    if session is None:
        return await _finish(ctx, request, client, params, None, now)
    xsrf = secrets.token_urlsafe(24)
    response = page("logout.html", title="Sign out", xsrf=xsrf, client_name=client.name if client else None,
                    hidden={k: params[k] for k in ("client_id", "post_logout_redirect_uri", "state") if k in params})
    set_cookie(response, xsrf_name, xsrf, secure=ctx.settings.secure_cookies, max_age=600)
    return response
