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
A pushed request (RFC 9126 §4: ``client_id`` + a ``request_uri`` of ours,
``urn:ietf:params:oauth:request_uri:…``, keyturn.services.oidc.pushed) is used up when its code is
issued, so the sign-in page may be reloaded until then (any other ``request_uri`` is OIDC's request
object by reference: ``request_uri_not_supported``); an unknown, expired, used or other client's
``request_uri`` proves no redirect URI, so it gets the page. A client that must push (RFC 9126 §5) and
did not gets a redirected ``invalid_request``.
No CORS here (RFC 9700 §2.6).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import InvalidRequest, OAuthError, TemporarilyUnavailable
from keyturn.core.models import Client
from keyturn.core.secrets import REQUEST_URI_PREFIX
from keyturn.services.context import Services
from keyturn.services.oidc import flow, pushed, sessions
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


@dataclass(frozen=True, slots=True)
class _Proven:
    parsed: Parameters
    client: Client
    redirect_uri: str
    pushed: str | None  # the digest of the request_uri when the parameters are a pushed request's (RFC 9126)


async def _proven(request: Request, now: float, *, load: bool = True) -> _Proven | str:
    """The request's parameters, client and redirect URI once both are proven; else what the page says.

    With ``request_uri`` (RFC 9126 §4) the parameters are those of the client's pushed request, and nothing
    else sent beside ``client_id`` is used (FAPI 2.0 §5.3.2.2); without ``load`` (the busy answer) a pushed
    request is not looked up and the page is shown.
    """
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
        pushed_digest = None
        if params.get("request_uri", "").startswith(REQUEST_URI_PREFIX):  # else OIDC's: not supported
            if "client_id" in repeated or "request_uri" in repeated:
                raise authz.UntrustedRedirect("The request repeats client_id or request_uri.")
            if not load:
                raise authz.UntrustedRedirect(BUSY)
            loaded = await pushed.load(ctx, client, params["request_uri"], now)
            parsed, pushed_digest = Parameters(loaded.params, ()), loaded.digest
        redirect_uri = authz.trusted_redirect_uri(client, parsed.values, parsed.repeated)
        return _Proven(parsed, client, redirect_uri, pushed_digest)
    except (authz.UntrustedRedirect, pushed.PushedRequestRefused) as exc:
        log.info("authorization request refused before redirect: %s", exc.message)
        return exc.message


async def busy_endpoint(request: Request) -> Response:
    """The answer to an authorization request the server is too busy to serve (load shedding,
    keyturn.web.server.shedding): ``temporarily_unavailable`` redirected to the client once the
    client and redirect URI are proven (RFC 6749 §4.1.2.1), else the error page; nothing else is
    done (no session, no interaction). A failure to prove them (the database) is a 503 page."""
    ctx = services(request)
    try:
        proven = await _proven(request, ctx.clock(), load=False)
    except Exception:  # noqa: BLE001 - the client could not be looked up (the database): the page, not a 500
        return error_page(BUSY, status=503)
    if isinstance(proven, str):
        return error_page(proven, status=503 if proven == BUSY else 400)
    exc = TemporarilyUnavailable(BUSY)
    state = authz.error_state(proven.parsed.values, proven.parsed.repeated)
    return see_other(flow.error_redirect(ctx, proven.redirect_uri, exc, state))


BUSY = "The server is busy; please try again in a moment."


async def authorize_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    request.scope[ERROR_REDIRECT] = None  # until the redirect URI is proven, a failure is a page
    proven = await _proven(request, now)
    if isinstance(proven, str):
        return error_page(proven)
    client, redirect_uri, pushed_digest = proven.client, proven.redirect_uri, proven.pushed
    params, repeated = proven.parsed.values, proven.parsed.repeated
    request.scope[ERROR_REDIRECT] = flow.error_redirect(
        ctx, redirect_uri, TemporarilyUnavailable(UNAVAILABLE), authz.error_state(params, repeated))
    try:
        if pushed_digest is None and pushed.required(ctx, client):
            raise InvalidRequest("this client must push its authorization requests first "
                                 "(pushed_authorization_request_endpoint)")
        # A pushed request was checked with S256 only at POST /par; the same holds when it is used.
        areq = authz.validate(client, redirect_uri, params, repeated,
                              allow_plain_pkce=ctx.settings.allow_plain_pkce and pushed_digest is None)
        areq = replace(areq, pushed=pushed_digest)
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
