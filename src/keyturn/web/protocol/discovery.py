"""Discovery (RFC 8414, OIDC Discovery) and the JWKS. Every URL derives from the issuer setting.

Public documents: their answers reflect an origin some client allows (keyturn.web.allow_origin).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services import discovery
from keyturn.services.context import Services
from keyturn.services.keyring import JWKS_RELOAD_SECONDS
from keyturn.web.allow_origin import allow, decided
from keyturn.web.responses import json_response
from keyturn.web.state import services


async def _headers(request: Request, ctx: Services) -> dict[str, str]:
    origin = request.headers.get("origin")
    if origin and await ctx.origins.allows(origin, ctx.clock()):
        allow(request.scope, origin)
    return {"Cache-Control": "public, max-age=300", **decided(request.scope)}


async def oauth_metadata(request: Request) -> Response:
    ctx = services(request)
    headers = await _headers(request, ctx)
    return json_response(discovery.metadata(ctx.settings), headers=headers, no_store=False)


async def jwks(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    # A key rotated by `keyturn keys rotate` (another process) is published within seconds.
    await ctx.keys.maybe_reload(now, JWKS_RELOAD_SECONDS)
    headers = await _headers(request, ctx)
    return json_response({"keys": ctx.keys.published(now)}, headers=headers, no_store=False)
