"""Discovery (RFC 8414, OIDC Discovery) and the JWKS. Every URL derives from the issuer setting."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services import discovery
from keyturn.services.context import Services
from keyturn.services.keyring import JWKS_RELOAD_SECONDS
from keyturn.web import cors
from keyturn.web.responses import json_response
from keyturn.web.state import services


async def _cors(request: Request, ctx: Services) -> dict[str, str]:
    origin = request.headers.get("origin")
    if origin and await ctx.origins.allows(origin, ctx.clock()):
        return cors.allow_headers(origin)
    return {}


async def oauth_metadata(request: Request) -> Response:
    ctx = services(request)
    headers = {"Cache-Control": "public, max-age=300", **(await _cors(request, ctx))}
    return json_response(discovery.metadata(ctx.settings), headers=headers, no_store=False)


async def jwks(request: Request) -> Response:
    ctx = services(request)
    now = ctx.clock()
    # A key rotated by `keyturn keys rotate` (another process) is published within seconds.
    await ctx.keys.maybe_reload(now, JWKS_RELOAD_SECONDS)
    headers = {"Cache-Control": "public, max-age=300", **(await _cors(request, ctx))}
    return json_response({"keys": ctx.keys.published(now)}, headers=headers, no_store=False)
