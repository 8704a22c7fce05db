"""The pushed authorization request endpoint (RFC 9126): ``POST /par``.

The body is a form (RFC 9126 §2.1) with the authorization request's parameters and the client's
authentication, exactly as at the token endpoint (keyturn.web.client_auth: the same methods, the same
failure counting and 429s, the same ``invalid_client`` 401 with ``WWW-Authenticate``); a public client sends
its ``client_id`` alone (``none``). The request is validated as ``/authorize`` would (keyturn.services.oidc
.pushed) and answered ``201 {"request_uri", "expires_in"}`` with ``Cache-Control: no-store`` (§2.2); a
refusal is RFC 6749 §5.2 JSON from the error pipeline (§2.3). A browser origin the client allows is
reflected (R95), as at revocation.

A ``DPoP`` header (RFC 9449 §10.1) is checked as at the token endpoint (``htu`` this endpoint's URL, ``jti``
single use, nonce when required); its key's thumbprint becomes the request's ``dpop_jkt``, so the code is
exchanged only with a proof of that key (keyturn.services.oidc.pushed).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import InvalidRequest
from keyturn.services.dpop import new_nonce, pushed_request_jkt
from keyturn.services.oidc import pushed
from keyturn.services.origin_index import client_allows
from keyturn.web.allow_origin import allow, decided
from keyturn.web.client_auth import authenticate_request
from keyturn.web.params import FORM, media_type, parse_form, read_body
from keyturn.web.responses import json_response
from keyturn.web.state import services


async def par_endpoint(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    if media_type(request) != FORM:
        raise InvalidRequest("Content-Type must be application/x-www-form-urlencoded")  # RFC 9126 §2.1
    params = parse_form(await read_body(request, ctx.settings.max_body_bytes))
    auth = await authenticate_request(ctx, request, params, now, allow_public=True)
    origin = request.headers.get("origin")
    if origin and client_allows(auth.client, origin):
        allow(request.scope, origin)
    jkt = await pushed_request_jkt(ctx, request.headers.getlist("dpop"), client=auth.client, path=request.url.path,
                                   now=now)
    result = await pushed.push(ctx, auth.client, params, now, proof_jkt=jkt)
    headers = decided(request.scope)
    if jkt is not None and ctx.settings.dpop_nonce_required:  # RFC 9449 §8.2: the nonce to use next
        headers["DPoP-Nonce"] = new_nonce(ctx.settings, now)
    return json_response({"request_uri": result.request_uri, "expires_in": result.expires_in}, status=201,
                         headers=headers)
