"""``POST /introspect`` (RFC 7662) and ``POST /revoke`` (RFC 7009), client-authenticated.

Refusals are raised and answered by the error pipeline (keyturn.web.errors). Introspection answers
(for resource servers) carry no CORS header; revocation's reflect an origin its client allows (R95).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services import introspection
from keyturn.services.origin_index import client_allows
from keyturn.web.allow_origin import allow, decided
from keyturn.web.client_auth import authenticate_request
from keyturn.web.params import parse_body
from keyturn.web.responses import json_response
from keyturn.web.server.address import client_ip
from keyturn.web.state import services


async def introspect_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    params = await parse_body(request, ctx.settings.max_body_bytes)
    auth = await authenticate_request(ctx, request, params, now, allow_public=False)
    result = await introspection.introspect(ctx, auth.client, params.get("token"), params.get("token_type_hint"),
                                            now)
    return json_response(result)


async def revoke_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    origin = request.headers.get("origin")
    params = await parse_body(request, ctx.settings.max_body_bytes)
    auth = await authenticate_request(ctx, request, params, now, allow_public=True)
    if origin and client_allows(auth.client, origin):
        allow(request.scope, origin)
    await introspection.revoke(ctx, auth.client, params.get("token"), now, client_ip(request))
    return json_response({}, headers=decided(request.scope))
