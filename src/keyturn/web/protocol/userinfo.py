"""``GET/POST /userinfo`` (OIDC Core §5.3): the user's claims for a live access token with ``openid``.

The token comes from the Authorization header, or for POST from the form body, never the
query (RFC 6750 §2); both at once is an error. Refusals are RFC 6750 §3.1 errors, raised and
answered by the error pipeline (keyturn.web.errors). CORS: an origin some client allows, then,
once the token is known, only one its client allows (R95).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.bearer import access_token
from keyturn.core.errors import InvalidBearerRequest, InvalidToken
from keyturn.services.dpop import Presented, public_url
from keyturn.services.oidc import userinfo
from keyturn.services.origin_index import client_allows
from keyturn.web.allow_origin import allow, decided
from keyturn.web.mtls import certificate_thumbprint
from keyturn.web.params import parse_form, read_body
from keyturn.web.responses import json_response
from keyturn.web.state import services


async def _token(request: Request, max_body_bytes: int) -> tuple[str, str]:
    """The access token and its scheme, sent exactly one way (RFC 6750 §2.1 header — ``Bearer`` or, RFC 9449
    §7.1, ``DPoP`` — or §2.2 form body, a Bearer token)."""
    token: str | None = None
    scheme = "bearer"
    header = request.headers.get("authorization")
    if header is not None:
        found = access_token(header, prefix_optional=False)  # RFC 6750 §2.1 at OIDC's userinfo
        if found is None:
            raise InvalidBearerRequest("malformed Authorization header")
        scheme, token = found
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        try:
            form = parse_form(await read_body(request, max_body_bytes))
        except Exception:
            raise InvalidBearerRequest("malformed body") from None
        if "access_token" in form:
            if token is not None:
                raise InvalidBearerRequest("send the token one way only")
            token = form["access_token"]
    if token is None:
        raise InvalidToken(missing=True)
    return scheme, token


async def userinfo_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    origin = request.headers.get("origin")
    if origin and await ctx.origins.allows(origin, now):
        allow(request.scope, origin)
    scheme, token = await _token(request, ctx.settings.max_body_bytes)
    presented = Presented(scheme, token, tuple(request.headers.getlist("dpop")), request.method,
                          public_url(ctx.settings, request.url.path), certificate_thumbprint(request))
    found = await userinfo.check_token(ctx, token, now, presented)
    if origin and (found.client is None or not client_allows(found.client, origin)):
        allow(request.scope, None)
    return json_response(await userinfo.claims(ctx, found), headers=decided(request.scope))
