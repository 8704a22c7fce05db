"""``GET/POST /userinfo`` (OIDC Core §5.3): the user's claims for a live access token with ``openid``.

The token comes from the Authorization header, or for POST from the form body, never the
query (RFC 6750 §2); both at once is an error. CORS for the token's client's registered origins.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import InsufficientScope, InvalidToken
from keyturn.services.oidc import userinfo
from keyturn.services.origin_index import client_allows
from keyturn.web import cors
from keyturn.web.errors import bearer_challenge
from keyturn.web.params import parse_form, read_body
from keyturn.web.responses import json_response
from keyturn.web.state import services


def _challenge(error: str | None, status: int, headers: dict[str, str], description: str = "",
               scope: str | None = None) -> Response:
    value = bearer_challenge(error, description, scope)
    body = {"error": error or "invalid_token"}
    if description:
        body["error_description"] = description
    return json_response(body, status, {**headers, "WWW-Authenticate": value})


async def userinfo_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    origin = request.headers.get("origin")
    headers: dict[str, str] = {}
    if origin and await ctx.origins.allows(origin, now):
        headers = cors.allow_headers(origin)
    token: str | None = None
    header = request.headers.get("authorization")
    if header is not None:
        if header[:7].lower() != "bearer " or not header[7:].strip():
            return _challenge("invalid_request", 400, headers, "malformed Authorization header")
        token = header[7:].strip()
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        try:
            form = parse_form(await read_body(request, ctx.settings.max_body_bytes))
        except Exception:
            return _challenge("invalid_request", 400, headers, "malformed body")
        if "access_token" in form:
            if token is not None:
                return _challenge("invalid_request", 400, headers, "send the token one way only")
            token = form["access_token"]
    if token is None:
        return _challenge(None, 401, headers)
    try:
        found = await userinfo.check_token(ctx, token, now)
    except InvalidToken as exc:
        return _challenge("invalid_token", 401, headers, exc.description)
    except InsufficientScope as exc:
        return _challenge("insufficient_scope", 403, headers, exc.description, exc.scope)
    if origin and (found.client is None or not client_allows(found.client, origin)):
        headers = {}
    try:
        return json_response(await userinfo.claims(ctx, found), headers=headers)
    except InvalidToken as exc:
        return _challenge("invalid_token", 401, headers, exc.description)
