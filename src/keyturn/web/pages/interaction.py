"""``GET /interaction/{id}``: the hosted login or consent page of one pending authorization request.

The page is usable only from the browser that started the request, only until it expires, and
only once (the rules: keyturn.services.oidc.interactions).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core import paths
from keyturn.services.context import Services
from keyturn.services.oidc import interactions, sessions
from keyturn.services.oidc.claims import SCOPE_CLAIMS
from keyturn.services.oidc.interactions import Pending
from keyturn.web.pages.render import browser_cookie, error_page, page, read_form
from keyturn.web.state import services

EXPIRED = "This sign-in request has expired or was opened in another browser. Go back to the application and try again."
CLIENT_UNAVAILABLE = "This application can no longer sign people in."
SCOPE_TEXT = {
    "openid": "Know who you are (your user id)",
    "email": "See your email address",
    "phone": "See your phone number",
    "profile": "See your name and username",
    "offline_access": "Stay connected when you are not using it",
}


async def load(ctx: Services, request: Request, now: float) -> Pending | Response:
    """The request's live interaction, or the page saying why there is none."""
    try:
        return await interactions.load(ctx, request.path_params["interaction_id"],
                                       request.cookies.get(browser_cookie(ctx), ""), now)
    except interactions.Expired:
        return error_page(EXPIRED)
    except interactions.ClientUnavailable:
        return error_page(CLIENT_UNAVAILABLE)


async def load_submission(ctx: Services, request: Request, stage: str, now: float
                          ) -> tuple[Pending, dict[str, str]] | Response:
    """A POSTed login/consent form: its live interaction at ``stage``, well formed, CSRF-checked."""
    pending = await load(ctx, request, now)
    if isinstance(pending, Response):
        return pending
    if pending.stage != stage:
        return error_page(EXPIRED)
    form = await read_form(request)
    if form is None:
        return error_page("The form is malformed.")
    if not pending.csrf_ok(form.get("csrf")):
        return error_page("The form has expired. Go back to the application and try again.", status=403)
    return pending, form


def render_login(pending: Pending, *, username: str = "", error: str | None = None, status: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    return page("login.html", status=status, headers=headers, title="Sign in", client_name=pending.client.name,
                action=paths.interaction(pending.interaction_id, paths.INTERACTION_LOGIN), csrf=pending.csrf,
                username=username or pending.areq.login_hint or "", error=error)


def render_consent(pending: Pending, user_label: str) -> Response:
    scopes = [SCOPE_TEXT.get(s, s) for s in pending.areq.scope]
    claims = [c for s in pending.areq.scope for c in SCOPE_CLAIMS.get(s, ())]
    action = paths.interaction(pending.interaction_id, paths.INTERACTION_CONSENT)
    return page("consent.html", title="Allow access", client_name=pending.client.name, scopes=scopes,
                claims=claims, user_label=user_label, action=action, csrf=pending.csrf)


async def interaction_page(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    pending = await load(ctx, request, now)
    if isinstance(pending, Response):
        return pending
    if pending.stage == "login":
        return render_login(pending)
    session = await sessions.current(ctx, request.cookies.get(sessions.session_cookie(ctx)), now)
    if session is None or not pending.belongs_to(session):
        return error_page(EXPIRED)
    user = session.user
    return render_consent(pending, user.email or user.phone_number or user.id)
