"""``GET /interaction/{id}``: the hosted login or consent page of one pending authorization request.

The page is usable only from the browser that started the request (a cookie whose digest
the interaction stores), only until it expires, and only once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.models import Client
from keyturn.core.secrets import digest
from keyturn.services.context import Services
from keyturn.services.oidc import sessions
from keyturn.services.oidc.claims import SCOPE_CLAIMS
from keyturn.services.oidc.request import AuthorizationRequest
from keyturn.storage import oidc as store
from keyturn.web.authorize import browser_cookie
from keyturn.web.pages import error_page, page, read_form
from keyturn.web.state import services

EXPIRED = "This sign-in request has expired or was opened in another browser. Go back to the application and try again."
SCOPE_TEXT = {
    "openid": "Know who you are (your user id)",
    "email": "See your email address",
    "phone": "See your phone number",
    "profile": "See your name and username",
    "offline_access": "Stay connected when you are not using it",
}


@dataclass(frozen=True, slots=True)
class Pending:
    interaction_id: str
    stage: str
    params: dict[str, Any]
    areq: AuthorizationRequest
    client: Client


async def load(ctx: Services, request: Request, interaction_id: str, now: float) -> Pending | Response:
    if not interaction_id or len(interaction_id) > 100:
        return error_page(EXPIRED)
    async with ctx.engine.connect() as conn:
        row = await store.find_interaction(conn, digest(interaction_id), now)
    browser = request.cookies.get(browser_cookie(ctx), "")
    if row is None or not browser or not hmac.compare_digest(digest(browser), row["params"]["browser"]):
        return error_page(EXPIRED)
    client = await ctx.client(row["client_id"], now)
    if client is None or not client.active(now):
        return error_page("This application can no longer sign people in.")
    params = row["params"]
    return Pending(interaction_id, params["stage"], params, AuthorizationRequest.from_json(params["request"]),
                   client)


def csrf_ok(pending: Pending, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(str(submitted), pending.params["csrf"])


async def load_submission(ctx: Services, request: Request, stage: str, now: float
                          ) -> tuple[Pending, dict[str, str]] | Response:
    """A POSTed login/consent form: its live interaction at ``stage``, well formed, CSRF-checked."""
    pending = await load(ctx, request, request.path_params["interaction_id"], now)
    if isinstance(pending, Response):
        return pending
    if pending.stage != stage:
        return error_page(EXPIRED)
    form = await read_form(request)
    if form is None:
        return error_page("The form is malformed.")
    if not csrf_ok(pending, form.get("csrf")):
        return error_page("The form has expired. Go back to the application and try again.", status=403)
    return pending, form


def render_login(pending: Pending, *, username: str = "", error: str | None = None, status: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    return page("login.html", status=status, headers=headers, title="Sign in", client_name=pending.client.name,
                action=f"/interaction/{pending.interaction_id}/login", csrf=pending.params["csrf"],
                username=username or pending.areq.login_hint or "", error=error)


def render_consent(pending: Pending, user_label: str) -> Response:
    scopes = [SCOPE_TEXT.get(s, s) for s in pending.areq.scope]
    claims = [c for s in pending.areq.scope for c in SCOPE_CLAIMS.get(s, ())]
    return page("consent.html", title="Allow access", client_name=pending.client.name, scopes=scopes,
                claims=claims, user_label=user_label, action=f"/interaction/{pending.interaction_id}/consent",
                csrf=pending.params["csrf"])


async def interaction_page(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    pending = await load(ctx, request, request.path_params["interaction_id"], now)
    if isinstance(pending, Response):
        return pending
    if pending.stage == "login":
        return render_login(pending)
    session = await sessions.current(ctx, request.cookies.get(sessions.session_cookie(ctx)), now)
    if session is None or session.digest != pending.params["session"]:
        return error_page(EXPIRED)
    user = session.user
    return render_consent(pending, user.email or user.phone_number or user.id)
