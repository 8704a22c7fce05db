"""The authorization endpoint: ``/authorize`` and seed 000's ``/api/v2/access/authorize``.

GET carries the parameters in the query; POST in an ``application/x-www-form-urlencoded``
body (OIDC Core §3.1.2.1, "Form Serialization"), the query of a POST being ignored. Both
are parsed alike (keyturn.web.params): a repeated client_id or redirect_uri is refused on a
page, any other repeated parameter is a redirected ``invalid_request`` (RFC 6749 §3.1).
Errors before the client and redirect URI are proven are shown on a page (never
redirected, RFC 6749 §4.1.2.1); after, they are redirected with ``error``,
``error_description``, ``state`` and ``iss`` (RFC 9207); so is ``temporarily_unavailable``
when the database fails (the error pipeline, keyturn.web.errors.ERROR_REDIRECT). Every answer that leaves for
the client is a 303, so ``prompt=none`` works inside the RP's hidden iframe.
No CORS here (RFC 9700 §2.6).
"""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import OAuthError, TemporarilyUnavailable
from keyturn.core.models import Client
from keyturn.services.context import Services
from keyturn.services.oidc import flow, sessions
from keyturn.services.oidc import request as authz
from keyturn.web.errors import ERROR_REDIRECT, UNAVAILABLE
from keyturn.web.pages.render import browser_cookie, error_page, see_other, set_cookie
from keyturn.web.params import FORM, Parameters, collect, decode, media_type, read_body
from keyturn.web.state import services

log = logging.getLogger("keyturn.authorize")
MAX_REQUEST = 16 * 1024  # bytes of query (GET) or body (POST)
MAX_FIELDS = 100


class _Malformed(Exception):
    pass


def browser_binding(ctx: Services, request: Request) -> tuple[str, bool]:
    """The random value binding interactions to this browser, and whether it must be set."""
    value = request.cookies.get(browser_cookie(ctx))
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(32), True


async def request_parameters(request: Request) -> Parameters:
    """The request's parameters: the query (GET) or the form body (POST), repeats reported."""
    if request.method == "POST":
        if media_type(request) != FORM:
            raise _Malformed("The request must be sent as a form (application/x-www-form-urlencoded).")
        try:
            raw = await read_body(request, MAX_REQUEST)
        except OAuthError:
            raise _Malformed("The request is too large or malformed.") from None
    else:
        raw = request.scope["query_string"]
        if len(raw) > MAX_REQUEST:
            raise _Malformed("The request is too large.")
    try:
        return collect(decode(raw, MAX_FIELDS))
    except OAuthError:
        raise _Malformed("The request is malformed.") from None


async def _proven(request: Request, now: float) -> tuple[Parameters, Client, str] | str:
    """The request's parameters, client and redirect URI once both are proven; else what the page says."""
    ctx = services(request)
    try:
        parsed = await request_parameters(request)
    except _Malformed as exc:
        return str(exc)
    params, repeated = parsed.values, parsed.repeated
    client = await ctx.client(params.get("client_id", ""), now) if params.get("client_id") else None
    try:
        if not authz.code_flow_client(client, now):
            raise authz.UntrustedRedirect("The application (client_id) is unknown or cannot sign people in.")
        assert client is not None
        return parsed, client, authz.trusted_redirect_uri(client, params, repeated)
    except authz.UntrustedRedirect as exc:
        log.info("authorization request refused before redirect: %s", exc.message)
        return exc.message


async def busy_endpoint(request: Request) -> Response:
    """The answer to an authorization request the server is too busy to serve (load shedding,
    keyturn.web.server.shedding): ``temporarily_unavailable`` redirected to the client once the
    client and redirect URI are proven (RFC 6749 §4.1.2.1), else the error page; nothing else is
    done (no session, no interaction). A failure to prove them (the database) is a 503 page."""
    ctx = services(request)
    try:
        proven = await _proven(request, ctx.clock())
    except Exception:  # noqa: BLE001 - the client could not be looked up (the database): the page, not a 500
        return error_page(BUSY, status=503)
    if isinstance(proven, str):
        return error_page(proven)
    parsed, _, redirect_uri = proven
    exc = TemporarilyUnavailable(BUSY)
    return see_other(flow.error_redirect(ctx, redirect_uri, exc, authz.error_state(parsed.values, parsed.repeated)))


BUSY = "The server is busy; please try again in a moment."


async def authorize_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    request.scope[ERROR_REDIRECT] = None  # until the redirect URI is proven, a failure is a page
    proven = await _proven(request, now)
    if isinstance(proven, str):
        return error_page(proven)
    parsed, client, redirect_uri = proven
    params, repeated = parsed.values, parsed.repeated
    request.scope[ERROR_REDIRECT] = flow.error_redirect(
        ctx, redirect_uri, TemporarilyUnavailable(UNAVAILABLE), authz.error_state(params, repeated))
    try:
        areq = authz.validate(client, redirect_uri, params, repeated,
                              allow_plain_pkce=ctx.settings.allow_plain_pkce)
        session = await sessions.current(ctx, request.cookies.get(sessions.session_cookie(ctx)), now)
        browser, fresh = browser_binding(ctx, request)
        location = await flow.proceed(ctx, client, areq, session, now, browser=browser)
    except OAuthError as exc:
        log.info("authorization error client_id=%s error=%s", client.client_id, exc.error)
        return see_other(flow.error_redirect(ctx, redirect_uri, exc, authz.error_state(params, repeated)))
    response = see_other(location)
    if fresh:
        set_cookie(response, browser_cookie(ctx), browser, secure=ctx.settings.secure_cookies)
    return response
