"""The token endpoint (RFC 6749 §3.2): ``POST /token`` and seed 000's ``POST /api/v2/access/token``.

Refusals are raised and answered by the error pipeline (keyturn.web.errors), with the CORS
headers this endpoint decided (keyturn.web.allow_origin).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from keyturn import metrics
from keyturn.core.errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from keyturn.grants import PARAMS, REGISTRY, TokenRequest
from keyturn.services import fapi
from keyturn.services.client_auth import certificate_binding, check_quota
from keyturn.services.dpop import new_nonce, token_request_jkt
from keyturn.services.origin_index import client_allows
from keyturn.web.allow_origin import allow, decided
from keyturn.web.client_auth import authenticate_request
from keyturn.web.mtls import client_certificate
from keyturn.web.params import parse_body
from keyturn.web.responses import json_response
from keyturn.web.server.address import client_ip
from keyturn.web.state import services

log = logging.getLogger("keyturn.token")
PUBLIC_GRANTS = frozenset({"authorization_code", "refresh_token"})


async def token_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    origin = request.headers.get("origin")
    if origin and await ctx.origins.allows(origin, now):
        allow(request.scope, origin)  # until the client is known: an origin some client allows
    params = await parse_body(request, ctx.settings.max_body_bytes)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    handler = REGISTRY.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType("grant_type is not supported")
    auth = await authenticate_request(ctx, request, params, now, allow_public=grant_type in PUBLIC_GRANTS)
    if origin is not None:
        # Seed 000's `domain`: a browser request must come from an origin the client allows (R95).
        if not client_allows(auth.client, origin):
            allow(request.scope, None)
            raise UnauthorizedClient("this client is not allowed from this origin")
        allow(request.scope, origin)
    if auth.client.rate_limit:
        await check_quota(ctx, auth.client)
    # RFC 9449 §5: a DPoP proof binds the tokens to its key (path: the endpoint as the issuer names it)
    jkt = await token_request_jkt(ctx, request.headers.getlist("dpop"), client=auth.client,
                                  path=request.url.path, now=now)
    # FAPI 2.0 §5.3.2.1: a FAPI client's tokens are bound to its DPoP key or, without a proof, its certificate
    constrained = jkt is None and fapi.applies(ctx.settings, auth.client)
    x5t = certificate_binding(auth.client, client_certificate(request), sender_constrained=constrained)
    fapi.require_sender_constraint(ctx.settings, auth.client, grant_type, jkt, x5t is not None)
    await ctx.keys.maybe_reload(now)
    accepted = PARAMS[grant_type]
    req = TokenRequest(params={k: v for k, v in params.items() if k in accepted}, auth=auth, now=now,
                       ip=client_ip(request), origin=origin, dpop_jkt=jkt, x5t=x5t)
    body = await handler(ctx, req)
    metrics.TOKENS_ISSUED.labels(grant_type).inc()  # a registered grant_type: a fixed set
    log.debug("token issued grant_type=%s client_id=%s scope=%s", grant_type, auth.client.client_id,
              body.get("scope", ""))
    headers = decided(request.scope)
    if jkt is not None and ctx.settings.dpop_nonce_required:  # RFC 9449 §8.2: the nonce to use next
        headers["DPoP-Nonce"] = new_nonce(ctx.settings, now)
    return json_response(body, headers=headers)
