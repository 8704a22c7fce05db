"""``POST /introspect`` (RFC 7662) and ``POST /revoke`` (RFC 7009), client-authenticated."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import OAuthError
from keyturn.services import introspection
from keyturn.services.origin_index import client_allows
from keyturn.web import cors
from keyturn.web.client_auth import authenticate_request
from keyturn.web.params import client_ip, parse_body
from keyturn.web.responses import json_response, oauth_error_response
from keyturn.web.state import services


async def introspect_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    try:
        params = await parse_body(request, ctx.settings.max_body_bytes)
        auth = await authenticate_request(ctx, request, params, now, allow_public=False)
        result = await introspection.introspect(ctx, auth.client, params.get("token"),
                                                params.get("token_type_hint"), now)
        return json_response(result)
    except OAuthError as exc:
        return oauth_error_response(exc)


async def revoke_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    origin = request.headers.get("origin")
    headers: dict[str, str] = {}
    try:
        params = await parse_body(request, ctx.settings.max_body_bytes)
        auth = await authenticate_request(ctx, request, params, now, allow_public=True)
        if origin and client_allows(auth.client, origin):
            headers = cors.allow_headers(origin)
        await introspection.revoke(ctx, auth.client, params.get("token"), now,
                                   client_ip(request))
        return json_response({}, headers=headers)
    except OAuthError as exc:
        return oauth_error_response(exc, headers)
